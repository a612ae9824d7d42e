"""Target distributions for Born machines: bars-and-stripes, discretized Gaussians and mixtures,
and empirical distributions of samples.

Every data set is a :class:`Distribution`: exact probabilities over the ``2**num_bits`` basis
states, indexed little-endian like qdiff's simulator (bit ``k`` of an index is qubit ``k``).

>>> bas = bars_and_stripes(2, 2)
>>> int(bas.valid.sum()), float(bas.probs.sum())
(6, 1.0)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Encoding = Literal["bits", "integer"]


@dataclass(frozen=True)
class Distribution:
    """A probability distribution over ``num_bits``-bit basis states.

    Attributes:
        name: a short label (``"bas3x3"``, ``"mixture10"``, ...).
        probs: ``(2**num_bits,)`` float64, non-negative, summing to one.
        encoding: ``"bits"`` (distances between states are Hamming distances) or ``"integer"``
            (states are the integers ``0..2**num_bits - 1``; distances are squared differences).
        valid: ``(2**num_bits,)`` bool mask of the states that count as valid (the support of
            the data, e.g. the bars-and-stripes images), or ``None`` when the notion does not apply.
        shape: ``(rows, cols)`` of an image data set (pixel ``r * cols + c`` is bit ``k``), else ``None``.
    """

    name: str
    probs: np.ndarray
    encoding: Encoding = "bits"
    valid: np.ndarray | None = None
    shape: tuple[int, int] | None = None

    @property
    def num_bits(self) -> int:
        """Number of bits (qubits of a matching Born machine)."""
        return int(self.probs.shape[0]).bit_length() - 1

    def sample(self, shots: int, generator: np.random.Generator) -> np.ndarray:
        """``shots`` integer states drawn from the distribution, shape ``(shots,)``."""
        return generator.choice(len(self.probs), size=int(shots), p=self.probs)


def _bits_to_index(bits: np.ndarray) -> np.ndarray:
    """Rows of bits ``(K, n)`` (column ``k`` = bit ``k``) to integer indices ``(K,)``."""
    return (bits.astype(np.int64) << np.arange(bits.shape[1], dtype=np.int64)).sum(axis=1)


def bars_and_stripes(rows: int, cols: int) -> Distribution:
    """The uniform distribution over the valid ``rows x cols`` bars-and-stripes images.

    Pixel ``(r, c)`` is bit ``r * cols + c`` (row-major). An image is valid when every row is
    constant (stripes) or every column is constant (bars); there are ``2**rows + 2**cols - 2``.
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"bars-and-stripes needs rows >= 1 and cols >= 1, got {rows}x{cols}")
    n = rows * cols
    if n > 24:
        raise ValueError(f"bars-and-stripes {rows}x{cols} has {n} pixels; at most 24 are supported")
    grid = np.arange(n).reshape(rows, cols)
    stripes = [sum(((mask >> r) & 1) << int(k) for r in range(rows) for k in grid[r]) for mask in range(2**rows)]
    bars = [sum(((mask >> c) & 1) << int(k) for c in range(cols) for k in grid[:, c]) for mask in range(2**cols)]
    valid = np.zeros(2**n, dtype=bool)
    valid[np.array(stripes + bars)] = True
    return Distribution(f"bas{rows}x{cols}", valid / valid.sum(), "bits", valid, (rows, cols))


def valid_images(distribution: Distribution) -> np.ndarray:
    """The valid states of an image data set as bits ``(K, rows * cols)`` (column ``k`` = bit ``k``)."""
    if distribution.valid is None:
        raise ValueError(f"data set {distribution.name!r} has no notion of valid states")
    index = np.flatnonzero(distribution.valid)
    return (index[:, None] >> np.arange(distribution.num_bits)) & 1


def gaussian_mixture(num_bits: int, means: Sequence[float], widths: float | Sequence[float],
                     weights: Sequence[float] | None = None, name: str | None = None) -> Distribution:
    """A mixture of Gaussians discretized on the integers ``0 .. 2**num_bits - 1``.

    ``p(x) ∝ sum_i w_i exp(-(x - mu_i)**2 / (2 nu_i**2))``, normalised over the integers. The
    paper's 10-qubit example is ``gaussian_mixture(10, [2*1024/7, 5*1024/7], 1024/8)``.
    """
    if num_bits < 1:
        raise ValueError(f"num_bits must be >= 1, got {num_bits}")
    means = np.atleast_1d(np.asarray(means, dtype=float))
    widths = np.broadcast_to(np.asarray(widths, dtype=float), means.shape)
    w = np.ones_like(means) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != means.shape or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative, one per mean, and not all zero")
    if np.any(widths <= 0):
        raise ValueError(f"widths must be positive, got {widths.tolist()}")
    x = np.arange(2**num_bits, dtype=float)
    density = (w[:, None] * np.exp(-((x - means[:, None]) ** 2) / (2 * widths[:, None] ** 2))).sum(axis=0)
    label = name or (f"gaussian{num_bits}" if len(means) == 1 else f"mixture{num_bits}")
    return Distribution(label, density / density.sum(), "integer")


def gaussian(num_bits: int, mean: float, width: float) -> Distribution:
    """A single Gaussian discretized on the integers ``0 .. 2**num_bits - 1``."""
    return gaussian_mixture(num_bits, [mean], width)


def empirical(samples: np.ndarray | Sequence[object], num_bits: int, encoding: Encoding = "bits",
              name: str = "empirical") -> Distribution:
    """The empirical distribution of ``samples``.

    Args:
        samples: integer states ``(K,)``, rows of bits ``(K, num_bits)`` (column ``k`` = bit ``k``),
            or Qiskit-style bitstrings (rightmost character = bit 0).
        num_bits: number of bits of each sample.
        encoding: how distances between states are measured (see :class:`Distribution`).
    The valid mask is the set of states that occur.
    """
    arr = np.asarray(samples)
    if arr.size == 0:
        raise ValueError("empirical() needs at least one sample")
    if arr.dtype.kind in "US":
        if any(len(s) != num_bits or set(s) - {"0", "1"} for s in arr.ravel()):
            raise ValueError(f"bitstrings must be {num_bits} characters of 0 and 1")
        index = np.array([int(s, 2) for s in arr.ravel()], dtype=np.int64)
    elif arr.ndim == 2:
        if arr.shape[1] != num_bits or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"bit rows must have shape (K, {num_bits}) with entries 0 or 1, got {arr.shape}")
        index = _bits_to_index(arr)
    else:
        index = arr.astype(np.int64).ravel()
        if not np.array_equal(index, arr.ravel()) or index.min() < 0 or index.max() >= 2**num_bits:
            raise ValueError(f"integer samples must lie in 0..{2**num_bits - 1} for {num_bits} bits")
    histogram = np.bincount(index, minlength=2**num_bits).astype(float)
    return Distribution(name, histogram / histogram.sum(), encoding, histogram > 0)


def dataset(name: str) -> Distribution:
    """A data set by name: ``bas<m>x<n>``, ``gaussian<n>`` or ``mixture<n>`` (the paper's examples).

    >>> dataset("bas3x3").num_bits, dataset("mixture10").encoding
    (9, 'integer')
    """
    match = re.fullmatch(r"bas(\d+)x(\d+)", name)
    if match:
        return bars_and_stripes(int(match[1]), int(match[2]))
    match = re.fullmatch(r"(gaussian|mixture)(\d+)", name)
    if match and 1 <= int(match[2]) <= 24:
        n = int(match[2])
        size = 2**n
        if match[1] == "gaussian":
            return gaussian(n, (size - 1) / 2, size / 8)
        return gaussian_mixture(n, [2 * size / 7, 5 * size / 7], size / 8)
    raise ValueError(f"unknown dataset {name!r}; use bas<rows>x<cols> (e.g. bas3x3), gaussian<bits> or "
                     f"mixture<bits> (e.g. mixture10)")
