"""What every workload receives: mode, sizes, peers, the timer, logging, notes and the cross-checks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .peers import ALL, Peers
from .timing import Stats, check_close, interleaved


@dataclass
class Context:
    """Settings and shared services of one suite run.

    Attributes:
        quick: fewer sizes and a smaller time budget per measurement.
        threads: torch / OpenMP threads (already applied by the command line).
        peers: lazily imported peers (``Peers``).
        sizes: per-workload override of the qubit counts (``{"hea": [4, 6]}``), for tests and ``--sizes``.
        budget_s: seconds of timed rounds per measurement (see ``timing.interleaved``).
        notes: skipped peers and other remarks, printed and written under the table.
        checks: the cross-checks that passed, written under the table.
    """

    quick: bool = False
    threads: int = 2
    peers: Peers = field(default_factory=lambda: Peers(ALL))
    sizes: dict[str, list[int]] = field(default_factory=dict)
    budget_s: float | None = None
    notes: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    verbose: bool = True

    def __post_init__(self) -> None:
        if self.budget_s is None:
            self.budget_s = 1.0 if self.quick else 4.0
        self.peers._note = self.note

    def log(self, msg: str) -> None:
        """Progress line on stderr."""
        if self.verbose:
            print(msg, file=sys.stderr, flush=True)

    def note(self, msg: str) -> None:
        """A remark for the report (also logged)."""
        if msg not in self.notes:
            self.notes.append(msg)
            self.log(f"note: {msg}")

    def sizes_for(self, workload: str, full: list[int], quick: list[int]) -> list[int]:
        """Qubit counts of a workload: the override if given, else the mode's default."""
        return self.sizes.get(workload, quick if self.quick else full)

    def check(self, what: str, ours: object, theirs: object) -> None:
        """Cross-check qdiff against a peer (raises AssertionError on a mismatch)."""
        err = check_close(what, ours, theirs, self.log)
        self.checks.append(f"{what}: max abs diff {err:.1e}")

    def time(self, fns: dict[str, Callable[[], object]], budget_s: float | None = None, min_repeats: int | None = None,
             max_repeats: int = 21, warmup: int = 1) -> dict[str, Stats]:
        """``timing.interleaved`` with this run's budget (quick: at least 1 repeat, else 3)."""
        if min_repeats is None:
            min_repeats = 1 if self.quick else 3
        return interleaved(fns, budget_s if budget_s is not None else self.budget_s, min_repeats, max_repeats, warmup)
