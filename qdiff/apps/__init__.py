"""Applications built on the engines: Born machines, VQE and QAOA, hybrid quantum-classical models,
and the ``qdiff`` command line.

The main entry points load lazily (PEP 562), so ``import qdiff.apps`` stays cheap:

>>> import qdiff.apps
>>> qdiff.apps.vqe.__module__, qdiff.apps.HybridBornFlow.__name__
('qdiff.apps.variational.vqe_driver', 'HybridBornFlow')
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "BornMachine": "qdiff.apps.qcbm",
    "HybridBornFlow": "qdiff.apps.hybrid.model",
    "vqe": "qdiff.apps.variational",
    "qaoa": "qdiff.apps.variational",
}


def __getattr__(name: str) -> Any:
    """Load ``name`` from its module on first use."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qdiff.apps' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
