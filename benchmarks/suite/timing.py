"""Interleaved timing (median, min, max over repeats after a warm-up) and the cross-check helper.

The functions compared in one measurement are timed in turn within every round, so a change in
the machine's load hits all of them alike; the number of rounds adapts to a time budget, so a
slow contender at large n gets few repeats and a fast one at small n many. A fast function (its
last call under :data:`WARM_BELOW_S`) is called once untimed right before each timed call, so it
is timed with its own code and data in the caches, as in a user's loop, not in whatever state the
previous contender left them (measured at n = 8: a call right after a default.qubit call took
1.9x as long for qdiff and 1.4x for Qulacs).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ATOL = RTOL = 1e-8

WARM_BELOW_S = 0.05
"""Functions faster than this get an untimed call of their own right before each timed one."""


@dataclass(frozen=True)
class Stats:
    """Wall times (s) of one contender: median, fastest and slowest repeat, and how many."""

    median: float
    min: float
    max: float
    repeats: int
    warmup: int

    @classmethod
    def of(cls, times: list[float], warmup: int) -> Stats:
        return cls(statistics.median(times), min(times), max(times), len(times), warmup)

    def scaled(self, factor: float) -> Stats:
        """The same statistics multiplied by ``factor`` (e.g. per sample of a batch)."""
        return Stats(self.median * factor, self.min * factor, self.max * factor, self.repeats, self.warmup)


def interleaved(fns: dict[str, Callable[[], object]], budget_s: float = 2.0, min_repeats: int = 3,
                max_repeats: int = 21, warmup: int = 1) -> dict[str, Stats]:
    """Time each function: ``warmup`` untimed calls, then rounds of one call each, in turn (a fast
    function's timed call preceded by an untimed one, see the module docstring).

    The round count is ``budget_s / (time of the first round)``, clamped to ``[min_repeats,
    max_repeats]``. The garbage collector runs once before the rounds and is off during them.

    Args:
        fns: name -> zero-argument callable (its result is dropped).
        budget_s: seconds of timed rounds to aim for.
        min_repeats, max_repeats: bounds on the number of rounds.
        warmup: untimed calls of each function before the first round.

    Returns:
        name -> :class:`Stats`.
    """
    for _ in range(warmup):
        for f in fns.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    repeats = min_repeats
    gc.collect()
    gc.disable()  # as timeit does: no collector pauses inside a timed call
    try:
        r = 0
        while r < repeats:
            for name, f in fns.items():
                if times[name] and times[name][-1] < WARM_BELOW_S:
                    f()  # warm: its own code and data in the caches
                t0 = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t0)
            r += 1
            if r == 1:  # size the rounds from the first timed one (the warm-up may include compiling)
                spent = sum(t[0] for t in times.values())
                repeats = max(min_repeats, min(max_repeats, int(budget_s / max(spent, 1e-9))))
    finally:
        gc.enable()
    return {k: Stats.of(v, warmup) for k, v in times.items()}


def check_close(what: str, ours: object, theirs: object, log: Callable[[str], None] = print) -> float:
    """Raise AssertionError unless qdiff's and a peer's numbers agree to atol = rtol = 1e-8.

    Returns:
        The largest absolute difference (logged as ``check <what>: ... OK``).
    """
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if a.shape != b.shape:
        raise AssertionError(f"{what}: shapes differ, qdiff {a.shape} vs peer {b.shape}")
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    if not np.allclose(a, b, atol=ATOL, rtol=RTOL):
        raise AssertionError(f"{what}: qdiff and peer disagree (max abs diff {err:.2e}); conventions "
                             "(wire order, rotation sign) or an engine are wrong")
    log(f"  check {what}: max abs diff {err:.1e}  OK")
    return err
