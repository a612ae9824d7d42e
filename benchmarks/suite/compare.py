"""Time qdiff against its peers in one interleaved measurement and turn the result into rows."""

from __future__ import annotations

from collections.abc import Callable

from .context import Context
from .report import Row
from .timing import Stats


def compare(ctx: Context, workload: str, n: int, case: str, fns: dict[str, Callable[[], object]],
            targets: dict[str, float] | None = None, skipped: tuple[str, ...] = (), floor: Stats | None = None,
            **time_kw: object) -> list[Row]:
    """Time ``fns`` together (``"qdiff"`` is ours, every other key a peer) and return one row per peer.

    Args:
        ctx: the run's context (time budget, logging).
        workload, n, case: the row's labels.
        fns: ``{"qdiff": ..., peer label: ...}`` zero-argument callables.
        targets: peer label -> largest passing ratio qdiff/peer.
        skipped: peer labels that are absent this run (rows read SKIP).
        floor: time of one state copy at this n, for the ``x copy`` column.
        time_kw: passed to ``Context.time`` (budget_s, min_repeats, max_repeats, warmup).
    """
    targets = targets or {}
    stats = ctx.time(fns, **time_kw)
    ours = stats["qdiff"]
    parts = ", ".join(f"{k} {s.median * 1e3:.2f} ms" for k, s in stats.items())
    ctx.log(f"  {workload} n={n} {case}: {parts} ({ours.repeats} repeats)")
    rows = [Row(workload, n, case, ours, peer, s, targets.get(peer), floor) for peer, s in stats.items()
            if peer != "qdiff"]
    rows += [Row(workload, n, case, ours, peer, None, targets.get(peer), floor) for peer in skipped]
    if len(rows) == 0:
        rows.append(Row(workload, n, case, ours, "—", None, None, floor))
    return rows
