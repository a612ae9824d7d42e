"""``qdiff vqe`` and ``qdiff qaoa``: outputs, resume, bad input (exit 2 before any work)."""

from __future__ import annotations

import json

import pytest

from qdiff.apps.cli import main


def _summary(path):
    return json.loads((path / "summary.json").read_text())


def test_vqe_command_tfim(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["vqe", "--model", "tfim", "--n", "4", "--out", str(out), "--quiet", "--no-plots"]) == 0
    s = _summary(out)
    assert {"energy", "exact_energy", "error", "relative_error", "fidelity"} <= set(s)
    assert s["relative_error"] < 1e-6 and s["num_qubits"] == 4 and s["layers"] == 2
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == s["steps"] and "energy" in json.loads(lines[0])
    assert "exact energy" in capsys.readouterr().out


def test_vqe_command_h2_and_resume(tmp_path):
    out = tmp_path / "h2"
    args = ["vqe", "--model", "h2", "--out", str(out), "--quiet", "--no-plots", "--steps", "2"]
    assert main(args) == 0
    assert _summary(out)["steps"] == 2
    assert main(args) == 2  # a checkpoint exists: neither --resume nor --force
    assert main(args[:-1] + ["30", "--resume"]) == 0
    s = _summary(out)
    assert s["steps"] > 2 and abs(s["error"]) < 1.6e-3 and s["bond_length"] == 0.735
    assert main(args[:-2] + ["--steps", "30", "--resume", "--layers", "2"]) == 2  # settings differ


def test_qaoa_command(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["qaoa", "--n", "8", "--p", "2", "--out", str(out), "--quiet", "--no-plots"]) == 0
    s = _summary(out)
    assert {"approximation_ratio", "expected_cut", "max_cut", "best_cut"} <= set(s)
    assert s["ratios"]["2"] > s["ratios"]["1"] >= 0.692
    assert "p = 2" in capsys.readouterr().out


def test_qaoa_command_reads_an_edge_list(tmp_path):
    f = tmp_path / "g.txt"
    f.write_text("# a weighted triangle\n0 1 1.0\n1 2 2.0\n0 2 1.0\n")
    assert main(["qaoa", "--graph", str(f), "--p", "1", "--out", str(tmp_path / "o"), "--quiet", "--no-plots"]) == 0
    assert _summary(tmp_path / "o")["max_cut"] == 3.0


@pytest.mark.parametrize("argv, match", [
    (["vqe", "--model", "tfim", "--n", "1"], "--n must be >= 2"),
    (["vqe", "--model", "h2", "--n", "2"], "--n must be 4"),
    (["vqe", "--model", "h2", "--shots", "100", "--optimizer", "lbfgs"], "L-BFGS needs exact"),
    (["vqe", "--model", "h2", "--shots", "-3"], "positive"),
    (["vqe", "--model", "heisenberg", "--ansatz", "uccd"], "for molecules"),
    (["vqe", "--model", "h2", "--bond-length", "-1"], "bond length must be positive"),
    (["vqe", "--backend", "quantum-cloud"], "unknown --backend"),
    (["qaoa", "--p", "0"], "--p must be >= 1"),
    (["qaoa", "--graph", "no-such-file.txt"], "edge-list file"),
    (["qaoa", "--graph", "erdos-renyi", "--edge-probability", "0"], "edge-probability"),
])
def test_bad_input_exits_2(argv, match, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("qdiff.apps.variational.vqe_driver.Minimizer.step", lambda self: pytest.fail("optimised"))
    assert main(argv + ["--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert __import__("re").search(match, capsys.readouterr().err)


def test_graph_without_edges_exits_2(tmp_path, capsys):
    f = tmp_path / "empty.txt"
    f.write_text("# nothing\n")
    assert main(["qaoa", "--graph", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no edges" in capsys.readouterr().err


def test_unknown_model_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["vqe", "--model", "h3"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_geometry_outside_the_table_without_pyscf(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pyscf", None)  # as without the chem extra
    assert main(["vqe", "--model", "h2", "--bond-length", "0.123", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "qdiff[chem]" in capsys.readouterr().err
