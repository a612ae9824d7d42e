"""The `qdiff` command line and the hardware-efficient ansatz."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import qdiff
from qdiff.apps.ansatz import entangler_edges, hardware_efficient
from qdiff.apps.cli import main


def test_demo_prints_energy_and_gradient_that_match_the_library(capsys):
    assert main(["demo", "--qubits", "3", "--layers", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    circuit = hardware_efficient(3, 2)
    H = sum((qdiff.Z(i) @ qdiff.Z(i + 1) for i in range(2)), qdiff.PauliSum()) + sum(
        (qdiff.X(i) for i in range(3)), qdiff.PauliSum())
    values = torch.rand(circuit.num_parameters, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 6.283
    energy = qdiff.expval(circuit, H, values).item()
    assert f"<H> = {energy:+.6f}" in out
    assert "12 parameters" in out


def test_demo_rejects_bad_sizes(capsys):
    assert main(["demo", "--qubits", "1"]) == 2
    assert "--qubits must be >= 2" in capsys.readouterr().err


def test_python_dash_m_qdiff_runs():
    proc = subprocess.run([sys.executable, "-m", "qdiff", "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("qdiff ")


def test_hardware_efficient_structure():
    c = hardware_efficient(4, 3, rotations=("rx", "ry", "rz"), entangler="ring")
    assert c.num_parameters == 3 * 3 * 4
    assert c.count_ops() == {"rx": 12, "ry": 12, "rz": 12, "cx": 12}
    assert [p.name for p in c.parameters[:3]] == ["w[0]", "w[1]", "w[2]"]
    assert entangler_edges(3, [(0, 2)]) == [(0, 2)]


@pytest.mark.parametrize("kwargs, match", [
    ({"num_qubits": 0, "layers": 1}, "num_qubits >= 1"),
    ({"num_qubits": 2, "layers": 1, "rotations": ("h",)}, "rotations must be"),
    ({"num_qubits": 2, "layers": 1, "entangler": "star"}, "unknown entangler"),
    ({"num_qubits": 2, "layers": 1, "entangler": [(0, 5)]}, "invalid for 2 qubits"),
])
def test_hardware_efficient_bad_input(kwargs, match):
    with pytest.raises(qdiff.QdiffError, match=match):
        hardware_efficient(**kwargs)
