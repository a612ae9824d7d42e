"""Examples run as scripts (small sizes) and report agreeing exact engines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_compare_engines_example_agrees():
    out = subprocess.run([sys.executable, str(EXAMPLES / "compare_engines.py"), "--qubits", "3", "--layers", "1"],
                         capture_output=True, text=True, check=True).stdout
    errors = dict(re.findall(r"(\w+): .*= ([0-9.e+-]+)", out))
    assert set(errors) == {"backprop", "adjoint", "param_shift", "finite_diff", "spsa"}
    assert float(errors["adjoint"]) < 1e-12 and float(errors["param_shift"]) < 1e-12
    assert float(errors["finite_diff"]) < 1e-6


def _run_example(*args: str) -> str:
    return subprocess.run([sys.executable, str(EXAMPLES / args[0]), *args[1:]], capture_output=True, text=True,
                          check=True).stdout


def test_flow_examples_run_and_report_exact_references():
    toy = _run_example("flows_toy.py", "--steps", "3")
    assert "exact -ln Z = -2.5337" in toy  # the ring's normaliser by quadrature
    gap = float(re.search(r"gap = ([0-9.e+-]+)", toy).group(1))
    assert gap > 0  # a variational bound: F >= -ln Z
    ising = _run_example("flows_ising.py", "--L", "2", "--steps", "3")
    assert re.search(r"relative error = [0-9.]+%", ising)
    digits = _run_example("flows_digits.py", "--steps", "3")
    assert 0 < float(re.search(r"= ([0-9.]+) bits/dim", digits).group(1)) < 20


def test_hybrid_example_runs_and_reports_the_exact_entropy():
    out = _run_example("hybrid_bas.py", "--quick")
    nll, entropy = map(float, re.search(r"test NLL = ([0-9.e+-]+) .* data = ([0-9.e+-]+)", out).groups())
    assert entropy < nll < 20  # no model beats the data's own density on average (up to noise)
    assert "most probable latent state z =" in out
