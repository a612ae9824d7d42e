"""The output folder of a training command: metrics (JSON lines), an atomically written
checkpoint, a summary and plots. Every ``qdiff`` training command follows these conventions:

* ``DIR/metrics.jsonl`` -- one JSON object per logged step;
* ``DIR/checkpoint.pt`` -- written to a temporary file in ``DIR`` and renamed over the old one,
  so a crash mid-write never leaves a corrupt or missing checkpoint;
* ``DIR/summary.json`` -- the final metrics;
* ``DIR/*.png`` -- plots, when matplotlib (the ``plot`` extra) is installed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


class RunDirError(Exception):
    """A problem with the output folder or its checkpoint, worded for the command line."""


def prepare_dir(path: str | os.PathLike[str], resume: bool, force: bool) -> Path:
    """Create ``path`` if needed and prove it is writable, before any training starts.

    Raises:
        RunDirError: the folder cannot be created or written, or it already holds a checkpoint
            and neither ``resume`` nor ``force`` was asked for (an earlier run is never overwritten
            silently).
    """
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except OSError as exc:
        raise RunDirError(f"cannot write to the output folder {str(out)!r} ({exc.strerror or exc}); "
                          f"choose another --out") from None
    if (out / CHECKPOINT).exists() and not resume and not force:
        raise RunDirError(f"{out / CHECKPOINT} already exists; pass --resume to continue that run, "
                          f"--force to start over, or choose another --out")
    if resume and not (out / CHECKPOINT).exists():
        raise RunDirError(f"--resume: no checkpoint in {str(out)!r}; run without --resume to start")
    return out


def open_run(out: str | os.PathLike[str] | None, default_out: str, resume: bool, force: bool,
             config: dict[str, Any], keys: Iterable[str] | None = None) -> tuple[Path, dict[str, Any] | None]:
    """Prepare the run folder (``out`` or ``default_out``) and, with ``resume``, load its checkpoint.

    Raises:
        RunDirError: ``resume`` without ``out``, any problem of :func:`prepare_dir` or
            :func:`load_checkpoint`, or a checkpoint whose settings (``keys`` of ``config``, default
            all) differ from ``config``.
    """
    if out is None and resume:
        raise RunDirError("--resume needs --out DIR: the folder of the run to continue")
    folder = prepare_dir(out or default_out, resume, force)
    checkpoint = load_checkpoint(folder) if resume else None
    if checkpoint is not None:
        differing = [k for k in (config if keys is None else keys) if checkpoint["config"].get(k) != config[k]]
        if differing:
            raise RunDirError("--resume with different settings than the checkpoint: " + ", ".join(
                f"{k} (checkpoint {checkpoint['config'].get(k)!r}, now {config[k]!r})" for k in differing))
    return folder, checkpoint


def write_atomic(path: Path, write: Any) -> None:
    """Write a file by calling ``write(file_object)`` on a temporary file, then renaming it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` to ``out/checkpoint.pt``."""
    write_atomic(out / CHECKPOINT, lambda f: torch.save(state, f))


def load_checkpoint(out: Path) -> dict[str, Any]:
    """Read ``out/checkpoint.pt``; a corrupt or foreign file raises :class:`RunDirError`."""
    path = out / CHECKPOINT
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise RunDirError(f"the checkpoint {path} is corrupt or unreadable ({type(exc).__name__}); "
                          f"it was left untouched: restore it or start over with --force") from None
    if not isinstance(state, dict) or "config" not in state or "trainer" not in state:
        raise RunDirError(f"{path} is not a qdiff checkpoint (missing config or trainer state)")
    return state


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Atomically write ``value`` as indented JSON."""
    write_atomic(path, lambda f: f.write((json.dumps(value, indent=2, sort_keys=True) + "\n").encode()))


class MetricsLog:
    """Appends one JSON object per line to ``DIR/metrics.jsonl``.

    On resume the log is cut back to the checkpoint's step, so that lines written after the
    last checkpoint by an interrupted run are not duplicated.
    """

    def __init__(self, out: Path, resume_step: int | None = None):
        self.path = out / METRICS
        if resume_step is None:
            self.path.write_text("")
        else:
            kept = [line for line in self.read() if line.get("step", 0) <= resume_step]
            write_atomic(self.path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in kept).encode()))

    def read(self) -> list[dict[str, Any]]:
        """Every logged line."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def append(self, record: dict[str, Any]) -> None:
        """Log one line."""
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        """Log several lines."""
        for record in records:
            self.append(record)
