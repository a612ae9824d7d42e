"""Qiskit stays optional: ``import qdiff`` does not load it, the bridge loads it on first use, and
without Qiskit the bridge says which extra to install."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_import_qdiff_does_not_import_qiskit_but_the_bridge_works():
    result = _run("""
        import sys
        import qdiff, qdiff.interop
        print(any(m.split(".")[0] == "qiskit" for m in sys.modules))
        qc = qdiff.to_qiskit(qdiff.Circuit(2).h(0).cx(0, 1))
        print(type(qc).__name__, "qiskit" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "QuantumCircuit", "True"]


def test_without_qiskit_the_error_names_the_extra():
    result = _run("""
        import sys
        sys.modules["qiskit"] = None  # as if Qiskit were not installed
        import qdiff
        circuit = qdiff.Circuit(1).h(0)
        for call in (lambda: qdiff.to_qiskit(circuit), lambda: qdiff.dump_qasm(circuit),
                     lambda: qdiff.load_qasm("OPENQASM 3;"), lambda: qdiff.to_sparse_pauli_op(qdiff.Z(0))):
            try:
                call()
            except ImportError as err:
                print(err)
            else:
                print("no error")
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all("pip install 'qdiff[qiskit]'" in line for line in lines), lines
    assert lines[0].startswith("qdiff.to_qiskit needs Qiskit")


def test_interop_package_imports_qiskit_only_in_its_private_modules():
    """qdiff/interop/__init__.py (what qdiff's lazy exports load) has no module-level Qiskit import,
    and no other layer imports the bridge except qdiff.backends, which runs circuits through Qiskit
    (and loads the bridge inside functions only, see tests/test_layering.py)."""
    init = ast.parse((ROOT / "qdiff" / "interop" / "__init__.py").read_text())
    top = [n for n in init.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [n for n in top if "qiskit" in ast.unparse(n)]
    for path in (ROOT / "qdiff").rglob("*.py"):
        if not {"interop", "backends"} & set(path.parts) and path != ROOT / "qdiff" / "__init__.py":
            assert "qdiff.interop" not in path.read_text(), f"{path} imports the Qiskit bridge"
