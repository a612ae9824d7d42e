"""The shared training loop: records, checkpoint cadence, Ctrl-C."""

from __future__ import annotations

from pathlib import Path

from qdiff.apps.loop import train_loop
from qdiff.apps.rundir import MetricsLog


def _counter(stop: int, interrupt_at: int | None = None):
    count = [0]

    def step():
        if count[0] == stop:
            return None
        if count[0] == interrupt_at:
            raise KeyboardInterrupt
        count[0] += 1
        return {"step": count[0], "loss": float(stop - count[0])}

    return step


def test_every_step_is_logged_with_time_and_checkpoints_follow_the_cadence(tmp_path: Path) -> None:
    saves: list[float] = []
    seconds = train_loop(_counter(7), saves.append, log=MetricsLog(tmp_path), out=tmp_path, total=7,
                         seconds=10.0, quiet=True, checkpoint_every=3)
    records = MetricsLog(tmp_path, resume_step=100).read()
    assert [r["step"] for r in records] == list(range(1, 8))
    assert all(r["seconds"] >= 10.0 for r in records)  # resumed wall time is carried on
    assert len(saves) == 3  # steps 3 and 6, then the final one
    assert seconds is not None and seconds >= saves[-2] >= 10.0


def test_ctrl_c_saves_a_checkpoint_prints_the_resume_command_and_returns_none(tmp_path: Path, capsys) -> None:
    saves: list[float] = []
    result = train_loop(_counter(10, interrupt_at=4), saves.append, log=MetricsLog(tmp_path), out=tmp_path,
                        total=10, quiet=True, checkpoint_every=100)
    assert result is None
    assert len(saves) == 1
    assert [r["step"] for r in MetricsLog(tmp_path, resume_step=100).read()] == [1, 2, 3, 4]
    assert f"interrupted at step 4; checkpoint saved: resume with --resume --out {tmp_path}" in capsys.readouterr().err


def test_guarded_maps_usage_errors_to_2_and_divergence_to_1(capsys):
    """Every command's entry point: listed errors exit 2, a trainer's FloatingPointError (the loss
    became nan/inf) exits 1, both with one ``qdiff <command>: error:`` line, and torch's thread
    count is restored whatever the body set."""
    import torch

    from qdiff.apps.loop import guarded

    threads = torch.get_num_threads()

    def usage() -> int:
        torch.set_num_threads(1)
        raise ValueError("--steps must be >= 0")

    def diverged() -> int:
        torch.set_num_threads(1)
        raise FloatingPointError("the loss became nan at step 3")

    assert guarded("demo", usage, (ValueError,)) == 2
    assert capsys.readouterr().err.strip() == "qdiff demo: error: --steps must be >= 0"
    assert guarded("demo", diverged, (ValueError,)) == 1
    assert capsys.readouterr().err.strip() == "qdiff demo: error: the loss became nan at step 3"
    assert torch.get_num_threads() == threads
    assert guarded("demo", lambda: 0, (ValueError,)) == 0
