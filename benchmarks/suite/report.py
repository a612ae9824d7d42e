"""Rows of results, and their markdown table, CSV file and time-versus-n plot."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .timing import Stats


@dataclass
class Row:
    """One comparison: qdiff's figure against a peer's (or against a bound), at one size.

    ``ours`` and ``theirs`` are times in seconds (``unit="s"``), or memory in MiB (``unit="MiB"``) or
    in state vectors (``unit="states"``), then ``theirs`` is the allowed bound. ``target`` is the largest ratio ours/theirs that passes;
    ``floor`` is the time of one state copy at this n (gate rows read as a multiple of it).
    """

    workload: str
    n: int
    case: str
    ours: Stats | None
    peer: str
    theirs: Stats | None
    target: float | None = None
    floor: Stats | None = None
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.theirs is None or self.theirs.median == 0:
            return None
        return self.ours.median / self.theirs.median

    @property
    def floor_multiple(self) -> float | None:
        if self.ours is None or self.floor is None or self.floor.median == 0:
            return None
        return self.ours.median / self.floor.median

    @property
    def status(self) -> str:
        if self.ours is None or (self.theirs is None and self.peer != "—"):
            return "SKIP"
        if self.target is None or self.ratio is None:
            return "info"
        return "PASS" if self.ratio <= self.target else "FAIL"


def fmt(value: float | None, unit: str = "s") -> str:
    """A time (s), memory (MiB) or number of state vectors in a readable unit."""
    if value is None:
        return "—"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "states":
        return f"{value:.2f} states"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} µs"


def _range(s: Stats | None, unit: str) -> str:
    return "—" if s is None else f"{fmt(s.min, unit)} – {fmt(s.max, unit)}"


def _target(r: Row) -> str:
    if r.target is None:
        return "—"
    if r.target < 1 and abs(1 / r.target - round(1 / r.target)) < 1e-9:
        return f"≤ 1/{round(1 / r.target)}"
    return f"≤ {r.target:g}"


def markdown_table(rows: list[Row]) -> str:
    """One line per row: medians, min–max, ratio, target and verdict, copy multiple for gates."""
    lines = ["| workload | n | case | qdiff median | qdiff min – max | peer | peer median | peer min – max "
             "| ratio qdiff/peer | target | result | × copy | repeats |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "—" if r.ratio is None else f"{r.ratio:.3g}"
        mult = "—" if r.floor_multiple is None else f"{r.floor_multiple:.2f}"
        reps = "—" if r.ours is None else f"{r.ours.repeats} (+{r.ours.warmup})"
        result = f"**{r.status}**" if r.status == "FAIL" else r.status
        lines.append(f"| {r.workload} | {r.n} | {r.case} | {fmt(r.ours and r.ours.median, r.unit)} | "
                     f"{_range(r.ours, r.unit)} | {r.peer} | {fmt(r.theirs and r.theirs.median, r.unit)} | "
                     f"{_range(r.theirs, r.unit)} | {ratio} | {_target(r)} | {result} | {mult} | {reps} |")
    return "\n".join(lines)


def targets_summary(rows: list[Row]) -> str:
    """The rows that carry a target, as a short PASS/FAIL list."""
    lines = ["| target | measured ratio | result |", "|---|---|---|"]
    for r in rows:
        if r.target is not None:
            ratio = "—" if r.ratio is None else f"{r.ratio:.3g}"
            lines.append(f"| {r.workload} n={r.n} ({r.case}) vs {r.peer}: {_target(r)} | {ratio} | {r.status} |")
    return "\n".join(lines)


CSV_FIELDS = ("workload", "n", "case", "unit", "qdiff_median", "qdiff_min", "qdiff_max", "repeats", "warmup",
              "peer", "peer_median", "peer_min", "peer_max", "ratio", "target", "result", "copy_median",
              "copy_multiple", "note")


def write_csv(rows: list[Row], path: Path) -> None:
    """Raw figures (seconds, MiB or states, unrounded) one row per comparison."""
    def num(x: float | None) -> str:
        return "" if x is None else repr(float(x))

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for r in rows:
            o, t = r.ours, r.theirs
            w.writerow([r.workload, r.n, r.case, r.unit, num(o and o.median), num(o and o.min), num(o and o.max),
                        o.repeats if o else "", o.warmup if o else "", r.peer, num(t and t.median),
                        num(t and t.min), num(t and t.max), num(r.ratio), num(r.target), r.status,
                        num(r.floor and r.floor.median), num(r.floor_multiple), r.note])


PLOTTED = (("hea-grad", "HEA energy + gradient (4 layers)"), ("hea-forward", "HEA energy only (4 layers)"),
           ("qaoa-grad", "QAOA MaxCut energy + gradient (p = 4)"), ("gate", "one gate (complex128)"))


def plot(rows: list[Row], path: Path) -> str | None:
    """Median time versus n per workload (log scale), qdiff and every peer; returns a note if skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"plot skipped: matplotlib unavailable ({exc}); pip install matplotlib"
    panels = [(w, title) for w, title in PLOTTED if any(r.workload == w and r.ours for r in rows)]
    if not panels:
        return "plot skipped: no workload with a time-versus-n series ran"
    cols = min(2, len(panels))
    rows_ = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows_, cols, figsize=(5.2 * cols, 3.8 * rows_), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (workload, title) in zip(axes.flat, panels):
        sel = [r for r in rows if r.workload == workload and r.ours is not None]
        if workload == "gate":
            case = sel[0].case
            sel = [r for r in sel if r.case == case]
            title += f": {case}"
        series: dict[str, dict[int, float]] = {"qdiff": {r.n: r.ours.median for r in sel}}
        for r in sel:
            if r.theirs is not None:
                series.setdefault(r.peer, {})[r.n] = r.theirs.median
            if r.floor is not None:
                series.setdefault("state copy (floor)", {})[r.n] = r.floor.median
        for name, pts in series.items():
            ns = sorted(pts)
            ax.plot(ns, [pts[n] for n in ns], marker="o", label=name,
                    linestyle="--" if "floor" in name else "-")
        ax.set_yscale("log")
        ax.set_xlabel("qubits n")
        ax.set_ylabel("median time (s)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
