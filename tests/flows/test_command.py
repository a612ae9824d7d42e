"""``qdiff flow``: bad input exits 2 before any work; a tiny run writes the conventional outputs."""

from __future__ import annotations

import json

import pytest

from qdiff.apps.cli import main

TINY = ["--steps", "4", "--hidden", "4", "--layers", "2", "--batch", "16", "--eval-every", "2",
        "--eval-samples", "64", "--quiet", "--no-plots"]


@pytest.mark.parametrize("argv,message", [
    (["--target", "ring2d", "--model", "neuralrg"], "not available for --target ring2d"),
    (["--target", "ising", "--model", "neuralrg", "--L", "6"], "power of two"),
    (["--target", "ising", "--L", "1"], "--L must be >= 2"),
    (["--target", "ising", "--T", "0"], "--T must be > 0"),
    (["--target", "ising", "--fit", "samples"], "has no samples"),
    (["--target", "digits", "--fit", "energy"], "density estimation"),
    (["--steps", "-1"], "--steps must be >= 0"),
    (["--model", "ma", "--dt", "0"], "--dt must be > 0"),
    (["--lr-decay", "1.5"], "--lr-decay"),
    (["--batch", "0"], "--batch must be >= 1"),
    (["--resume"], "--resume needs --out"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--target", "mnist"], "never downloads: pass --data PATH"),
    (["--target", "mnist", "--data", "/nonexistent/mnist"], "does not exist"),
    (["--target", "digits", "--data", "."], "--data is only for --target mnist"),
    (["--target", "ising", "--model", "ma", "--depth", "2"], "--depth is only for --model neuralrg"),
    (["--target", "ising", "--model", "neuralrg", "--depth", "0"], "--depth must be >= 1"),
])
def test_bad_input_exits_2_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["flow", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("qdiff flow: error:")
    assert not (tmp_path / "runs").exists()  # nothing was created


def test_run_writes_outputs_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["flow", "--target", "ising", "--L", "2", "--model", "neuralrg", "--out", str(out), *TINY]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {"free_energy_per_site", "exact_free_energy_per_site", "ln_z_ising_per_site"} <= set(summary)
    assert summary["steps"] == 4
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3, 4] and "eval" in lines[1]
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err  # never overwritten silently
    assert main([*argv, "--resume", "--steps", "6"]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    assert main([*argv, "--resume", "--steps", "6", "--hidden", "5"]) == 2
    assert "different settings" in capsys.readouterr().err


def test_toy_runs_report_their_keys(tmp_path):
    energy, samples = tmp_path / "energy", tmp_path / "samples"
    assert main(["flow", "--target", "ring2d", "--model", "realnvp", "--out", str(energy), *TINY]) == 0
    assert {"free_energy", "exact_free_energy"} <= set(json.loads((energy / "summary.json").read_text()))
    assert main(["flow", "--target", "mog", "--fit", "samples", "--model", "realnvp", "--samples", "200",
                 "--out", str(samples), *TINY]) == 0
    assert {"nll", "exact_nll"} <= set(json.loads((samples / "summary.json").read_text()))


def test_neuralrg_depth_adds_block_layers_per_scale(tmp_path):
    from qdiff.flows.presets import build_model

    shallow, deep = (build_model("ising", "neuralrg", L=4, hidden=4, layers=1, depth=d) for d in (1, 2))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(deep) == 2 * count(shallow)
    out = tmp_path / "deep"
    argv = ["flow", "--target", "ising", "--L", "4", "--model", "neuralrg", "--depth", "2", "--out", str(out), *TINY]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_parameters"] == count(build_model("ising", "neuralrg", L=4, hidden=4, layers=2, depth=2))


def test_mnist_trains_from_a_local_idx_copy(tmp_path):
    from tests.flows.test_data import write_fake_mnist

    folder = write_fake_mnist(tmp_path / "raw", train=24, test=6, gz=True)
    out = tmp_path / "run"
    argv = ["flow", "--target", "mnist", "--data", str(folder), "--out", str(out), "--model", "realnvp", *TINY]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == "mnist" and summary["test_images"] == 6 and summary["num_parameters"] > 0
    assert 0 < summary["nll_bits_per_dim"] < 20
