"""Shared test helpers for the numba kernels of :mod:`qdiff.sim`."""

from __future__ import annotations

from qdiff.sim import jit


def count_kernel_calls(monkeypatch, module_name: str, names: tuple[str, ...]) -> list[str]:  # type: ignore[no-untyped-def]
    """Wrap the kernels ``names`` of ``qdiff.sim.<module_name>`` (loaded through
    :func:`qdiff.sim.jit.kernels`) so that each call appends its name to the returned list."""
    module = jit.kernels(module_name)
    calls: list[str] = []
    for name in names:
        original = getattr(module, name)

        def counted(*args, _original=original, _name=name):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(module, name, counted)
    return calls
