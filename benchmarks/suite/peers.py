"""Optional peers: imported on first use, skipped with a printed note when missing or broken.

Peer names: ``lightning`` (PennyLane lightning.qubit), ``default.qubit`` (PennyLane),
``qulacs``, ``aer`` (qiskit-aer). :func:`load` returns the imported module (or ``None`` after
noting why it is skipped); :func:`versions` lists what is installed, for the report.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Callable

ALL = ("lightning", "default.qubit", "qulacs", "aer")
INSTALL = {
    "lightning": "pip install pennylane pennylane-lightning",
    "default.qubit": "pip install pennylane",
    "qulacs": "pip install qulacs",
    "aer": "pip install qiskit qiskit-aer",
}
DISTRIBUTIONS = ("torch", "numpy", "qdiff", "pennylane", "pennylane_lightning", "qulacs", "qiskit",
                 "qiskit-aer", "matplotlib", "networkx")


def _import(name: str) -> object:
    """The module a peer needs (PennyLane for both of its devices), checked to be usable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name in ("lightning", "default.qubit"):
            qml = importlib.import_module("pennylane")
            qml.device(name if name == "default.qubit" else "lightning.qubit", wires=1)
            return qml
        if name == "qulacs":
            return importlib.import_module("qulacs")
        if name == "aer":
            importlib.import_module("qiskit")
            return importlib.import_module("qiskit_aer")
    raise KeyError(f"unknown peer {name!r}; known: {', '.join(ALL)}")


class Peers:
    """Lazily imported peers, restricted to ``enabled``; failures become notes, never errors."""

    def __init__(self, enabled: tuple[str, ...] = ALL, note: Callable[[str], None] = print):
        unknown = [p for p in enabled if p not in ALL]
        if unknown:
            raise ValueError(f"unknown peer(s) {unknown}; known: {', '.join(ALL)}")
        self.enabled = tuple(enabled)
        self._note = note
        self._cache: dict[str, object | None] = {}

    def load(self, name: str) -> object | None:
        """The peer's module, or ``None`` (with one printed note) when disabled or not importable."""
        if name not in self._cache:
            if name not in self.enabled:
                self._cache[name] = None
                self._note(f"{name} not selected (--peers), its rows read SKIP")
            else:
                try:
                    self._cache[name] = _import(name)
                except Exception as exc:  # noqa: BLE001 - any failure means: skip the peer
                    self._cache[name] = None
                    self._note(f"{name} unavailable, skipped ({INSTALL[name]}): {type(exc).__name__}: {exc}")
        return self._cache[name]

    def attach(self, made: dict[str, object], absent: list[str], name: str, label: str,
               build: "Callable[[object], object]") -> None:
        """``made[label] = build(module)`` when peer ``name`` loads, else record ``label`` in ``absent``."""
        module = self.load(name)
        if module is None:
            absent.append(label)
        else:
            made[label] = build(module)


def version(dist: str) -> str:
    """Installed version of a distribution, or ``absent``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def versions() -> dict[str, str]:
    """Versions of torch, qdiff and every peer's distribution."""
    return {d: version(d) for d in DISTRIBUTIONS}
