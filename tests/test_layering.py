"""DESIGN.md's import rules, checked by parsing every module of the package with ``ast``.

Layers only import downward: ``ir`` imports nothing of qdiff but ``qdiff.errors`` (and never
torch at module level); ``sim`` never imports ``grad``, ``backends`` or ``apps``; ``backends``
imports no layer above it and Qiskit only inside functions; ``grad`` never imports ``apps`` or
Qiskit; ``flows`` imports nothing quantum; ``qdiff/__init__.py`` does not import
Qiskit.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "qdiff"


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name ("qdiff.sim.kernels", "torch")
    line: int
    top_level: bool  # executed when the module is imported (not inside a function or TYPE_CHECKING)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import in a file, relative imports resolved, with whether it runs at import time."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), False)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), top)
            elif isinstance(child, ast.Import):
                found.extend(Import(alias.name, child.lineno, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                found.append(Import(mod, child.lineno, top))
                if child.module is None or child.level:  # "from . import x" may import submodule x
                    found.extend(Import(f"{mod}.{alias.name}", child.lineno, top) for alias in child.names)
            else:
                visit(child, top)

    visit(ast.parse(path.read_text(), filename=str(path)), True)
    return found


def _files(subpackage: str) -> list[Path]:
    base = PACKAGE / subpackage if subpackage else PACKAGE
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(subpackage: str, forbidden) -> list[str]:
    out = []
    for path in _files(subpackage):
        for imp in imports_of(path):
            if forbidden(imp):
                out.append(f"{path.relative_to(ROOT)}:{imp.line} imports {imp.module}")
    return out


def test_the_package_is_parsed():
    files = _files("")
    assert PACKAGE / "__init__.py" in files and PACKAGE / "ir" / "circuit.py" in files
    mods = {i.module for i in imports_of(PACKAGE / "ir" / "circuit.py")}
    assert "qdiff.ir.builders" in mods and "qdiff.errors" in mods


def test_relative_imports_are_resolved(tmp_path):
    pkg = tmp_path / "qdiff" / "ir"
    pkg.mkdir(parents=True)
    f = pkg / "mod.py"
    f.write_text("from . import gates\nfrom ..sim import kernels\nfrom .x import y\n"
                 "def f():\n    import torch\nif TYPE_CHECKING:\n    import numpy\n")
    got = {(i.module, i.top_level) for i in imports_of(f, root=tmp_path)}
    assert {("qdiff.ir.gates", True), ("qdiff.sim", True), ("qdiff.sim.kernels", True), ("qdiff.ir.x", True),
            ("torch", False), ("numpy", False)} <= got


def test_ir_imports_nothing_of_qdiff_but_errors():
    bad = _violations("ir", lambda i: _within(i.module, "qdiff") and not _within(i.module, "qdiff.ir", "qdiff.errors"))
    assert not bad, "qdiff.ir must not import other layers:\n" + "\n".join(bad)


def test_ir_never_imports_torch_at_module_level():
    bad = _violations("ir", lambda i: i.top_level and _within(i.module, "torch"))
    assert not bad, "qdiff.ir must not import torch at import time:\n" + "\n".join(bad)


def test_sim_never_imports_grad_or_apps():
    bad = _violations("sim", lambda i: _within(i.module, "qdiff.grad", "qdiff.apps", "qdiff.backends"))
    assert not bad, "\n".join(bad)


ABOVE_BACKENDS = ("qdiff.grad", "qdiff.apps", "qdiff.execute", "qdiff.layers", "qdiff.derivatives", "qdiff.optim",
                  "qdiff.flows")


def test_backends_import_only_downward():
    """``backends`` sits between ``grad`` and ``sim``: it never imports a layer above it."""
    bad = _violations("backends", lambda i: _within(i.module, *ABOVE_BACKENDS) or i.module == "qdiff")
    assert not bad, "\n".join(bad)


def test_backends_import_qiskit_only_inside_functions():
    bad = _violations("backends", lambda i: i.top_level and _within(i.module, "qiskit", "qiskit_aer",
                                                                        "qiskit_ibm_runtime"))
    assert not bad, "qdiff.backends must load Qiskit lazily:\n" + "\n".join(bad)


def test_grad_never_imports_apps_or_qiskit():
    bad = _violations("grad", lambda i: _within(i.module, "qdiff.apps", "qiskit", "qiskit_aer", "qiskit_ibm_runtime"))
    assert not bad, "\n".join(bad)


def test_flows_import_nothing_quantum():
    if not (PACKAGE / "flows").is_dir():
        pytest.skip("qdiff.flows does not exist yet")
    quantum = ("qiskit", "qiskit_aer", "qiskit_ibm_runtime", "qdiff.ir", "qdiff.sim", "qdiff.grad",
               "qdiff.backends", "qdiff.apps", "qdiff.execute")
    bad = _violations("flows", lambda i: _within(i.module, *quantum) or i.module == "qdiff")
    assert not bad, "\n".join(bad)


def test_package_init_does_not_import_qiskit():
    bad = [f"qdiff/__init__.py:{i.line} imports {i.module}" for i in imports_of(PACKAGE / "__init__.py")
           if _within(i.module, "qiskit", "qiskit_aer", "qiskit_ibm_runtime")]
    assert not bad, "\n".join(bad)


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def fresh_imports() -> dict[str, str]:
    """In a fresh interpreter: is torch loaded after ``import qdiff.ir``, and is qiskit loaded after
    ``import qdiff`` and a run on the torch simulator (the Qiskit bridge loads only when used)?"""
    out = _run("""
        import sys
        import qdiff.ir
        print("torch" in sys.modules)
        import qdiff
        qdiff.expval(qdiff.Circuit(2).h(0).cx(0, 1), qdiff.Z(0) @ qdiff.Z(1))
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("qiskit", "qiskit_aer", "qiskit_ibm_runtime")))
    """).splitlines()
    return {"torch_after_ir": out[0], "qiskit_after_qdiff": out[1]}


def test_import_qdiff_does_not_load_qiskit(fresh_imports):
    assert fresh_imports["qiskit_after_qdiff"] == "[]"


def test_ir_modules_load_without_torch():
    """Executes qdiff/ir/* alone (a bare parent package, so qdiff/__init__.py does not run)."""
    out = _run("""
        import importlib.util, sys, types
        spec = importlib.util.find_spec("qdiff")
        parent = types.ModuleType("qdiff")
        parent.__path__ = list(spec.submodule_search_locations)
        sys.modules["qdiff"] = parent
        import qdiff.ir
        c = qdiff.ir.Circuit(2).h(0).cx(0, 1)
        print(len(c), "torch" in sys.modules)
    """)
    assert out == "2 False"


def test_import_qdiff_ir_does_not_load_torch(fresh_imports):
    assert fresh_imports["torch_after_ir"] == "False"
