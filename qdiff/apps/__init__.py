"""Applications built on the engines: the command line today; Born machines, VQE, QAOA next."""

from typing import Any


def __getattr__(name: str) -> Any:
    """Lazy exports (PEP 562): ``qdiff.apps.HybridBornFlow`` loads the hybrid models on first use."""
    if name == "HybridBornFlow":
        from qdiff.apps.hybrid.model import HybridBornFlow

        return HybridBornFlow
    raise AttributeError(f"module 'qdiff.apps' has no attribute {name!r}")
