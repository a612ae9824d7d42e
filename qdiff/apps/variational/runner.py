"""What ``qdiff vqe`` and ``qdiff qaoa`` share: common options, the output folder (through
:mod:`qdiff.apps.rundir`), the training loop with a progress bar, metrics, checkpoints and
``--resume``, and a plot of the logged curves."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qdiff.apps import loop, rundir
from qdiff.apps.loop import UsageError
from qdiff.apps.rundir import MetricsLog, RunDirError, save_checkpoint


def add_run_options(p: argparse.ArgumentParser, command: str) -> None:
    """The seed, output-folder and loop options every variational command has."""
    p.add_argument("--seed", type=int, default=0, help="seed of the initial parameters, graphs and sampling")
    loop.add_run_options(p, f"runs/{command}-<...>-<time>", checkpoint_every=20)


def check_run_options(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` for bad loop options."""
    if args.steps < 0:
        raise UsageError(f"--steps must be >= 0, got {args.steps}")
    if args.checkpoint_every < 1:
        raise UsageError("--checkpoint-every must be >= 1")
    if args.out is None and args.resume:
        raise UsageError("--resume needs --out DIR: the folder of the run to continue")


def open_run(args: argparse.Namespace, default_out: str, config: dict[str, Any]) -> tuple[Path, dict | None]:
    """Prepare the folder; with ``--resume`` load the checkpoint and check its settings agree."""
    return rundir.open_run(args.out, default_out, args.resume, args.force, config)


def default_out(command: str, label: str) -> str:
    """``runs/<command>-<label>-<time>``."""
    return f"runs/{command}-{label}-{time.strftime('%Y%m%d-%H%M%S')}"


def train_loop(*, out: Path, args: argparse.Namespace, config: dict[str, Any], stages: list[Any],
               step: Callable[[Any], dict[str, Any]], done: Callable[[Any], bool],
               state: Callable[[], dict[str, Any]], stage_index: int, seconds: float, resumed_step: int | None,
               desc: str) -> tuple[float, int] | int:
    """Run ``step(stage)`` until ``done(stage)`` for each stage from ``stage_index`` on, through
    :func:`qdiff.apps.loop.train_loop` (one metrics line per step, a checkpoint of ``state()`` every
    ``--checkpoint-every`` steps and on Ctrl-C). Returns ``(seconds, total steps)``, or 130 when
    interrupted."""
    k, total = stage_index, resumed_step or 0

    def next_record() -> dict[str, Any] | None:
        nonlocal k, total
        while k < len(stages) and done(stages[k]):
            k += 1
        if k == len(stages):
            return None
        record = step(stages[k])
        total += 1
        return {"step": total, **record}

    def save(elapsed: float) -> None:
        save_checkpoint(out, {"config": config, "trainer": state(), "stage": k, "step": total, "seconds": elapsed})

    finished = loop.train_loop(next_record, save, log=MetricsLog(out, resumed_step), out=out,
                               total=args.steps * len(stages), initial=total, seconds=seconds, desc=desc,
                               quiet=args.quiet, checkpoint_every=args.checkpoint_every,
                               show=("energy", "expected_cut", "error"))
    return 130 if finished is None else (finished, total)


def plot_curves(out: Path, metrics: list[dict[str, Any]], key: str, reference: float | None, ylabel: str,
                name: str, log_error: bool = False) -> list[Path]:
    """``DIR/<name>.png``: ``key`` against step (with the reference as a dashed line, or the error
    ``|key - reference|`` on a log axis with ``log_error``). Empty when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        print("(plots skipped: install the plot extra, pip install 'qdiff[plot]')", file=sys.stderr)
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [m for m in metrics if key in m]
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps = [m["step"] for m in rows]
    if log_error and reference is not None:
        ax.semilogy(steps, [max(abs(m[key] - reference), 1e-16) for m in rows])
        ax.set_ylabel(f"|{ylabel} - exact|")
    else:
        ax.plot(steps, [m[key] for m in rows])
        if reference is not None:
            ax.axhline(reference, ls="--", color="k", lw=1, label="exact")
            ax.legend()
        ax.set_ylabel(ylabel)
    ax.set_xlabel("step")
    fig.tight_layout()
    path = out / f"{name}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def guarded(command: str, body: Callable[[], int]) -> int:
    """Run ``body`` and turn usage, folder and qdiff errors into ``qdiff <command>: error: ...`` and exit 2."""
    from qdiff.errors import QdiffError

    return loop.guarded(command, body, (UsageError, RunDirError, QdiffError))
