"""Image data: MNIST from a local copy (IDX or npz), dequantisation and bits per dimension."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from qdiff.flows.data import MNIST_LEVELS, bits_per_dim, dequantize, load_mnist


def _idx_bytes(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return np.array([0x803, n, rows, cols], dtype=">u4").tobytes() + images.astype(np.uint8).tobytes()


def write_fake_mnist(folder: Path, train: int, test: int, gz: bool) -> Path:
    """A folder with MNIST-format IDX image files of random 28x28 images (seeded)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train-images-idx3-ubyte", train), ("t10k-images-idx3-ubyte", test)):
        data = _idx_bytes(rng.integers(0, 256, size=(n, 28, 28)))
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_are_read_pixel_for_pixel(tmp_path, gz):
    folder = write_fake_mnist(tmp_path, train=5, test=3, gz=gz)
    train, test = load_mnist(folder)
    assert train.shape == (5, 784) and test.shape == (3, 784) and train.dtype == torch.float64
    raw = (gzip.decompress if gz else bytes)((folder / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))).read_bytes())
    expected = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(3, 784)
    assert np.array_equal(test.numpy(), expected)


def test_keras_npz_is_read(tmp_path):
    rng = np.random.default_rng(1)
    x_train, x_test = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, x_test=x_test, y_train=np.zeros(4), y_test=np.zeros(2))
    train, test = load_mnist(tmp_path / "mnist.npz")
    assert np.array_equal(train.numpy(), x_train.reshape(4, -1)) and np.array_equal(test.numpy(), x_test.reshape(2, -1))


def test_bad_copies_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_mnist(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(np.array([0x801, 1, 1, 1], dtype=">u4").tobytes() + b"x")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(ValueError, match="not an IDX image file"):
        load_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(np.array([0x803, 2, 28, 28], dtype=">u4").tobytes() + b"x")
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(tmp_path)
    np.savez(tmp_path / "other.npz", a=np.zeros(1))
    with pytest.raises(ValueError, match="x_test"):
        load_mnist(tmp_path / "other.npz")


def test_dequantisation_stays_in_each_pixel_bin_and_bits_per_dim_uses_the_levels():
    torch.manual_seed(0)
    v = torch.randint(0, MNIST_LEVELS, (50, 784)).double()
    y = dequantize(v, MNIST_LEVELS)
    assert torch.equal(torch.floor(y * MNIST_LEVELS), v)
    # a uniform density on [0, 1]^D (ln q = 0) is worth exactly log2(256) = 8 bits per dimension
    assert math.isclose(bits_per_dim(0.0, 784, MNIST_LEVELS), 8.0)
