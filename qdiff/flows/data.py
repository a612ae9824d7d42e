"""Data for density estimation: image sets, dequantised, and bits per dimension.

* scikit-learn's 8x8 digits (1,797 images, 64 pixels of 17 grey levels 0..16) ship inside
  scikit-learn, so nothing is downloaded;
* MNIST (28x28, 256 grey levels) is read from a local copy only -- never downloaded: either the
  four original IDX files (``train-images-idx3-ubyte`` and ``t10k-images-idx3-ubyte``, gzipped or
  not, as torchvision keeps them in ``MNIST/raw``) or Keras' ``mnist.npz`` (``x_train``, ``x_test``).

A pixel value ``v`` of ``K`` levels becomes ``y = (v + u) / K`` with ``u ~ U(0, 1)`` (uniform
dequantisation), so a density ``q`` on ``[0, 1]^D`` bounds the discrete model's NLL:
``bits/dim = (-ln q(y) + D ln K) / (D ln 2)``.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

LEVELS = 17  # the digits' grey levels
MNIST_LEVELS = 256


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Integer pixel values ``(M_train, 64)`` and ``(M_test, 64)`` (float64), split at random.

    Raises:
        ImportError: scikit-learn is missing (``pip install 'qdiff[flows]'``).
    """
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError:
        raise ImportError("the digits data set ships with scikit-learn: pip install 'qdiff[flows]'") from None
    data = torch.as_tensor(sk_load().data, dtype=torch.float64)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(data)))
    return data[order[n_test:]], data[order[:n_test]]


def load_mnist(path: str | os.PathLike[str]) -> tuple[Tensor, Tensor]:
    """MNIST's integer pixel values ``(60000, 784)`` and ``(10000, 784)`` (float64) from a local copy.

    Args:
        path: a folder holding ``train-images-idx3-ubyte`` and ``t10k-images-idx3-ubyte`` (each
            optionally ``.gz``), or an ``.npz`` file with arrays ``x_train`` and ``x_test``.

    Raises:
        FileNotFoundError: nothing usable at ``path`` (the message says what is looked for).
        ValueError: a file that is not an MNIST image file.
    """
    where = Path(path)
    if where.is_file() and where.suffix == ".npz":
        with np.load(where, allow_pickle=False) as archive:
            missing = {"x_train", "x_test"} - set(archive.files)
            if missing:
                raise ValueError(f"{where} lacks the arrays {sorted(missing)}; expected Keras' mnist.npz layout")
            train, test = archive["x_train"], archive["x_test"]
    elif where.is_dir():
        train, test = (_read_idx_images(_find(where, stem)) for stem in ("train-images-idx3-ubyte",
                                                                         "t10k-images-idx3-ubyte"))
    else:
        raise FileNotFoundError(f"no MNIST copy at {str(where)!r}: give a folder with train-images-idx3-ubyte[.gz] "
                                f"and t10k-images-idx3-ubyte[.gz], or an mnist.npz with x_train and x_test "
                                f"(qdiff never downloads data)")
    return tuple(torch.from_numpy(np.asarray(x).reshape(len(x), -1).astype(np.float64)) for x in (train, test))


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx3", ".idx3"), stem.replace("-idx3", ".idx3") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{str(folder)!r} has no {stem}[.gz]: it needs MNIST's original IDX image files "
                            f"(or pass the path of an mnist.npz instead)")


def _read_idx_images(file: Path) -> np.ndarray:
    """``(N, rows, cols)`` uint8 images of an IDX3 file (big-endian header, magic 0x00000803)."""
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rb") as f:
        raw = f.read()
    header = np.frombuffer(raw[:16], dtype=">u4")
    if len(header) < 4 or header[0] != 0x803:
        raise ValueError(f"{file} is not an IDX image file (magic number {header[0] if len(header) else None!r}, "
                         f"expected 2051)")
    n, rows, cols = (int(v) for v in header[1:])
    if len(raw) != 16 + n * rows * cols:
        raise ValueError(f"{file} is truncated: header says {n} images of {rows}x{cols}, "
                         f"file has {len(raw) - 16} pixel bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def dequantize(v: Tensor, levels: int = LEVELS) -> Tensor:
    """``(v + u) / levels`` with fresh uniform noise ``u``; same shape as ``v``."""
    return (v + torch.rand_like(v)) / levels


def bits_per_dim(nll_nats: float, dim: int, levels: int = LEVELS) -> float:
    """Bits per dimension of the discrete data from the continuous NLL (nats) of dequantised data.

    >>> round(bits_per_dim(-64 * math.log(17), 64), 6)
    0.0
    """
    return (nll_nats + dim * math.log(levels)) / (dim * math.log(2))
