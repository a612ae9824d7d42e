"""``qdiff qcbm``: outputs, resume, and every bad-input path (clear message, exit 2, no damage)."""

from __future__ import annotations

import json

import pytest
import torch

from qdiff.apps.cli import main

SMALL = ["qcbm", "--dataset", "bas2x2", "--depth", "1", "--quiet", "--no-plots"]


def test_writes_summary_metrics_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(SMALL + ["--steps", "6", "--eval-every", "3", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {"mmd", "kl", "valid_rate", "steps", "seconds"} <= set(summary) and summary["steps"] == 6
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6] and "mmd" in lines[2] and "mmd" not in lines[0]
    printed = capsys.readouterr().out
    assert "valid rate" in printed and "MMD" in printed


def test_resume_continues_to_the_same_result(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    args = SMALL + ["--optimizer", "adam", "--checkpoint-every", "2"]
    assert main(args + ["--steps", "8", "--out", str(straight)]) == 0
    assert main(args + ["--steps", "4", "--out", str(split)]) == 0
    assert main(args + ["--steps", "8", "--out", str(split), "--resume"]) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=True)["trainer"]["weights"]
    b = torch.load(split / "checkpoint.pt", weights_only=True)["trainer"]["weights"]
    assert torch.equal(a, b)
    steps = [json.loads(x)["step"] for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_a_checkpoint_made_on_another_tree_refuses_to_resume(tmp_path, capsys):
    """The cx pairs are part of the run's settings: angles trained on one tree never continue on another
    (as a checkpoint from before the Chow-Liu tie-break changed would), and the checkpoint is kept."""
    out = tmp_path / "run"
    assert main(SMALL + ["--steps", "2", "--out", str(out)]) == 0
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    saved["config"]["edges"] = [[1, 0], [2, 0], [3, 1]]
    torch.save(saved, out / "checkpoint.pt")
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(SMALL + ["--steps", "4", "--out", str(out), "--resume"]) == 2
    assert "edges" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("extra, message", [
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--depth", "0"], "--depth must be >= 1"),
    (["--shots", "0"], "--shots must be a positive integer"),
    (["--shots", "many"], "--shots must be 'exact' or a positive integer"),
    (["--qubits", "5"], "has 4 bits but --qubits is 5"),
    (["--shots", "100", "--optimizer", "lbfgs"], "use --optimizer adam"),
    (["--sigmas", "1,-2"], "--sigmas must be positive"),
    (["--backend", "quantum"], "pass --shots"),
])
def test_bad_input_is_explained_with_exit_status_2(tmp_path, capsys, extra, message):
    assert main(SMALL + ["--steps", "1", "--out", str(tmp_path / "r")] + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # rejected before any work


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(SMALL + ["--steps", "1", "--out", str(blocker / "run")]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err


def test_an_earlier_checkpoint_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(SMALL + ["--steps", "2", "--out", str(out)]) == 0
    good = (out / "checkpoint.pt").read_bytes()
    assert main(SMALL + ["--steps", "2", "--out", str(out)]) == 2
    assert "already exists; pass --resume" in capsys.readouterr().err
    assert main(SMALL + ["--steps", "4", "--depth", "2", "--out", str(out), "--resume"]) == 2
    assert "different settings than the checkpoint: depth" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == good


def test_a_corrupt_checkpoint_is_reported_and_left_alone(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"\x00garbage")
    assert main(SMALL + ["--steps", "2", "--out", str(out), "--resume"]) == 2
    assert "corrupt or unreadable" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == b"\x00garbage"
    assert main(SMALL + ["--steps", "2", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_plots_are_written_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert main(["qcbm", "--dataset", "bas2x2", "--depth", "1", "--quiet", "--steps", "3", "--out", str(out)]) == 0
    assert all((out / name).stat().st_size > 1000 for name in ("loss.png", "distribution.png", "samples.png"))


def test_growing_runs_the_stages_and_resumes_across_a_boundary(tmp_path, monkeypatch, capsys):
    from qdiff.apps.qcbm.train import Trainer

    args = ["qcbm", "--dataset", "bas2x2", "--depth", "5", "--quiet", "--no-plots", "--steps", "10", "--grow"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(args + ["--out", str(straight)]) == 0
    rows = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [r["depth"] for r in rows] == [2, 2, 4, 4, 4, 5, 5, 5, 5, 5]  # growth_stages(5, 10)

    original = Trainer.step

    def interrupted(self):  # Ctrl-C during step 5, inside the depth-4 stage
        if self.step_count == 4:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "step", interrupted)
    assert main(args + ["--out", str(split)]) == 130
    assert "resume with --resume" in capsys.readouterr().err
    monkeypatch.setattr(Trainer, "step", original)
    assert main(args + ["--out", str(split), "--resume"]) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(split / "checkpoint.pt", weights_only=True)
    assert a["depth_now"] == b["depth_now"] == 5
    assert torch.equal(a["trainer"]["weights"], b["trainer"]["weights"])
    assert main(args + ["--out", str(split), "--resume", "--no-grow"]) == 2  # different settings
    config = torch.load(split / "checkpoint.pt", weights_only=True)["config"]
    assert config["edges"] == [[0, 1], [0, 2], [0, 3]]  # the run's tree is saved: a resume checks it
