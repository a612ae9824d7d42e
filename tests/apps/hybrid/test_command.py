"""``qdiff hybrid``: outputs and the comparison keys, shot-based runs, resume across an interrupted
baseline, and every bad-input path (clear message, exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest
import torch

from qdiff.apps.cli import main

SMALL = ["hybrid", "--dataset", "bas1x2", "--depth", "1", "--hidden", "4", "--layers", "2", "--train", "64",
         "--test", "32", "--batch", "32", "--quiet", "--no-plots"]


def test_compare_writes_summary_metrics_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(SMALL + ["--steps", "4", "--eval-every", "2", "--compare", "--born-bits", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {"test_nll", "flow_only_test_nll", "born_only_test_nll", "test_mmd", "data_test_nll",
            "num_parameters", "flow_only_parameters", "born_only_parameters", "seconds"} <= set(summary)
    assert summary["born_only_qubits"] == 2
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert [r["model"] for r in rows] == ["hybrid"] * 4 + ["flow_only"] * 4 + ["born_only"] * 4
    assert "test_nll" in rows[1] and "test_nll" not in rows[0]
    printed = capsys.readouterr().out
    assert "flow_only" in printed and "born_only" in printed and "data (exact)" in printed


def test_shot_based_run(tmp_path):
    out = tmp_path / "run"
    assert main(SMALL + ["--steps", "3", "--shots", "16", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "16 shots" and "flow_only_test_nll" not in summary
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    P = summary["circuit_parameters"]
    assert all(r["evaluations"] == 1 + 2 * P for r in rows)  # every shifted circuit in the one call


def test_an_interrupted_baseline_resumes_to_the_same_result(tmp_path, monkeypatch, capsys):
    from qdiff.apps.hybrid.builders import Sampling
    from qdiff.apps.hybrid.train import NLLTrainer

    args = SMALL + ["--steps", "4", "--compare", "--born-bits", "1", "--checkpoint-every", "2"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(args + ["--out", str(straight)]) == 0
    original = NLLTrainer.step

    def interrupted(self):  # Ctrl-C during step 3 of the flow-only baseline
        if isinstance(self.model, Sampling) and self.step_count == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(NLLTrainer, "step", interrupted)
    assert main(args + ["--out", str(split)]) == 130
    assert "resume with --resume" in capsys.readouterr().err
    monkeypatch.setattr(NLLTrainer, "step", original)
    assert main(args + ["--out", str(split), "--resume"]) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=True)["done"]
    b = torch.load(split / "checkpoint.pt", weights_only=True)["done"]
    for phase in ("hybrid", "flow_only", "born_only"):
        for key, value in a[phase]["model"].items():
            assert torch.equal(value, b[phase]["model"][key]), (phase, key)
    steps = [json.loads(x)["step"] for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))
    assert main(args + ["--out", str(split), "--resume", "--depth", "2"]) == 2
    assert "different settings than the checkpoint: depth" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--dataset", "bas4x4"], "at most 12 are supported"),
    (["--depth", "0"], "--depth must be >= 1"),
    (["--shots", "1"], "--shots must be an integer >= 2"),
    (["--shots", "many"], "--shots must be 'exact' or an integer"),
    (["--backend", "aer"], "pass --shots N"),
    (["--born-bits", "9"], "allows at most 16"),
    (["--lr", "0"], "--lr, --circuit-lr and --born-lr must be > 0"),
])
def test_bad_input_is_explained_with_exit_status_2(tmp_path, capsys, extra, message):
    assert main(SMALL + ["--steps", "1", "--out", str(tmp_path / "r")] + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # rejected before any work


def test_an_earlier_checkpoint_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(SMALL + ["--steps", "1", "--out", str(out)]) == 0
    good = (out / "checkpoint.pt").read_bytes()
    assert main(SMALL + ["--steps", "1", "--out", str(out)]) == 2
    assert "already exists; pass --resume" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == good


def test_plots_are_written_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    args = [a for a in SMALL if a != "--no-plots"]
    assert main(args + ["--steps", "2", "--compare", "--born-bits", "1", "--out", str(out)]) == 0
    assert all((out / name).stat().st_size > 1000 for name in ("loss.png", "samples.png", "latent.png"))


def test_default_born_bits_use_at_most_12_qubits():
    from qdiff.apps.cli import build_parser
    from qdiff.apps.hybrid.command import _config

    for dataset, bits in (("bas1x2", 6), ("bas2x2", 3), ("bas3x3", 1)):
        assert _config(build_parser().parse_args(["hybrid", "--dataset", dataset]))["born_bits"] == bits


def test_shot_based_training_runs_the_latent_circuit_on_aer(tmp_path, monkeypatch):
    """`--backend aer`: every circuit sample of the shot-based objective goes through Aer."""
    pytest.importorskip("qiskit_aer")
    import qdiff

    calls: list[int] = []
    original = qdiff.AerBackend.sample

    def counted(self, circuit, values, shots, seed=None):
        calls.append(int(values.shape[0]))
        return original(self, circuit, values, shots, seed=seed)

    monkeypatch.setattr(qdiff.AerBackend, "sample", counted)
    out = tmp_path / "aer"
    argv = ["hybrid", "--shots", "32", "--backend", "aer", "--steps", "2", "--train", "64", "--test", "32",
            "--hidden", "4", "--batch", "16", "--no-plots", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert len(calls) == 2  # one batched Aer call per step: the circuit and all its shifted copies
    assert all(rows > 1 for rows in calls)
    assert "test_nll" in json.loads((out / "summary.json").read_text())
