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
