"""Estimate a statevector's memory before allocating it, and refuse what cannot fit."""

from __future__ import annotations

import os

import torch

from qdiff.errors import StateTooLargeError

WORKING_COPIES = 3
"""States alive at once in a forward pass: the current state, the kernel output, a temporary."""

ALWAYS_FITS_BYTES = 1 << 26
"""Working copies up to this size (64 MiB) fit on any device qdiff runs on: no query of the
device's memory for them (a small circuit's call spent a few microseconds on it)."""


def device_memory_bytes(device: torch.device) -> int:
    """Total memory of ``device`` in bytes (physical RAM for the CPU)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**40


def check_state_fits(num_qubits: int, batch: int, dtype: torch.dtype, device: torch.device,
                     copies: int = WORKING_COPIES) -> int:
    """Raise :class:`StateTooLargeError` unless ``copies`` states fit on ``device``.

    Returns:
        the bytes of one batched state.
    """
    itemsize = dtype.itemsize
    one = batch * (2**num_qubits) * itemsize
    if one * copies <= ALWAYS_FITS_BYTES:
        return one
    available = device_memory_bytes(device)
    if one * copies > available:
        gib = 2**30
        raise StateTooLargeError(
            f"{num_qubits} qubits x batch {batch} in {dtype} need about {one * copies / gib:.1f} GiB "
            f"({copies} working copies of {one / gib:.2f} GiB), but {device} has {available / gib:.1f} GiB. "
            "Use fewer qubits or a smaller batch, dtype=torch.complex64, or a larger device."
        )
    return one
