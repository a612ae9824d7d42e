"""The one training loop of every ``qdiff`` command: progress bar, metrics, checkpoints, Ctrl-C.

A command supplies two closures -- ``step()`` (one optimizer step, returning the metrics record
of that step, or ``None`` once training is finished) and ``save(seconds)`` (write the checkpoint)
-- and :func:`train_loop` does the rest the same way for all of them:

* one line per step in ``DIR/metrics.jsonl`` with the cumulated wall time ``seconds`` added;
* a tqdm bar on stderr (``quiet`` hides it) showing the ``show`` keys of the last record;
* a checkpoint every ``checkpoint_every`` steps, once more at the end, and on Ctrl-C, after which
  it prints how to resume and returns ``None`` (the command exits with status 130).

>>> import tempfile
>>> from pathlib import Path
>>> from qdiff.apps.rundir import MetricsLog
>>> out = Path(tempfile.mkdtemp())
>>> count, saved = [0], []
>>> def step():
...     if count[0] == 5:
...         return None
...     count[0] += 1
...     return {"step": count[0], "loss": 1.0 / count[0]}
>>> seconds = train_loop(step, saved.append, log=MetricsLog(out), out=out, total=5, quiet=True,
...                      checkpoint_every=2)
>>> len(saved), [r["step"] for r in MetricsLog(out, resume_step=5).read()]
(3, [1, 2, 3, 4, 5])
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qdiff.apps.rundir import MetricsLog


class UsageError(Exception):
    """Bad command-line input, reported with exit status 2 before any work (:func:`guarded`)."""


def shots_option(text: str, minimum: int = 1, why: str = "") -> int | None:
    """A command's ``--shots`` value: ``"exact"`` gives ``None``, anything else must be an integer
    of at least ``minimum`` (``why`` says why, in the error); raises :class:`UsageError`."""
    need = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if text == "exact":
        return None
    try:
        shots = int(text)
    except ValueError:
        raise UsageError(f"--shots must be 'exact' or {need}, got {text!r}") from None
    if shots < minimum:
        raise UsageError(f"--shots must be {need}{why}, got {shots}")
    return shots


def guarded(command: str, body: Callable[[], int], errors: tuple[type[BaseException], ...]) -> int:
    """Run a command's ``body`` and return its exit status; ``errors`` become
    ``qdiff <command>: error: ...`` on stderr and exit status 2, a diverged training (a trainer's
    ``FloatingPointError``) the same message and exit status 1. Torch's thread count is restored
    afterwards, whatever the body set (``--threads``) and however it ended.
    """
    import torch

    previous = torch.get_num_threads()
    try:
        return body()
    except errors as exc:
        print(f"qdiff {command}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        print(f"qdiff {command}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        torch.set_num_threads(previous)


def add_run_options(p: argparse.ArgumentParser, out_pattern: str, checkpoint_every: int) -> None:
    """The run-folder and loop options of every training command: ``--out``, ``--resume``,
    ``--force``, ``--checkpoint-every``, ``--no-plots`` and ``--quiet``.

    Args:
        p: the subcommand's parser.
        out_pattern: the default folder's name, for the help (``runs/qcbm-<dataset>-<time>``).
        checkpoint_every: the default checkpoint cadence in steps.
    """
    p.add_argument("--out", default=None, help=f"output folder (default: a new {out_pattern})")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--force", action="store_true", help="start over even if DIR holds a checkpoint")
    p.add_argument("--checkpoint-every", type=int, default=checkpoint_every,
                   help=f"checkpoint every N steps (default {checkpoint_every})")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def train_loop(step: Callable[[], dict[str, Any] | None], save: Callable[[float], None], *, log: MetricsLog,
               out: Path, total: int, initial: int = 0, seconds: float = 0.0, desc: str = "train",
               quiet: bool = False, checkpoint_every: int = 100, show: Sequence[str] = ("loss",)) -> float | None:
    """Call ``step()`` until it returns ``None``; returns the cumulated seconds, ``None`` if interrupted.

    Args:
        step: one training step; returns its record, which must hold ``"step"`` (the number of
            steps done after it, counted from the start of the run, resumed runs included).
        save: writes the checkpoint; gets the cumulated wall time in seconds.
        log: where the records go.
        out: the run folder (named in the resume hint).
        total: the expected number of steps (the bar's length).
        initial: steps already done (a resumed run).
        seconds: wall time already spent (a resumed run).
        desc: the bar's label.
        quiet: hide the bar.
        checkpoint_every: save when ``record["step"]`` is a multiple of this.
        show: record keys shown beside the bar.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()

    def elapsed() -> float:
        return seconds + time.perf_counter() - start

    bar = tqdm(total=total, initial=initial, disable=quiet, desc=desc, unit="step", dynamic_ncols=True,
               file=sys.stderr)
    done = initial
    try:
        while (record := step()) is not None:
            done = int(record["step"])
            record["seconds"] = round(elapsed(), 4)
            log.append(record)
            bar.set_postfix({k: f"{record[k]:.4g}" for k in show if isinstance(record.get(k), (int, float))},
                            refresh=False)
            bar.update(1)
            if done % checkpoint_every == 0:
                save(elapsed())
    except KeyboardInterrupt:
        save(elapsed())
        bar.close()
        print(f"\ninterrupted at step {done}; checkpoint saved: resume with --resume --out {out}", file=sys.stderr)
        return None
    bar.close()
    final = elapsed()
    save(final)
    return final
