"""Install qdiff (editable) into the current Python, with a CPU-friendly torch when none is present.

Usage: ``python tools/install.py [EXTRA ...]`` (e.g. ``python tools/install.py test``).

Why: a bare ``torch`` requirement makes pip fetch the newest release, a multi-GB CUDA build on
Linux, even on machines without a GPU. When torch is missing we first install a release in a
known-good range (on a machine with a local CPU wheel, such as our CI, that wheel is used); a torch
you already have is never replaced. Then qdiff and the requested extras are installed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

TORCH_BOOTSTRAP = "torch>=2.1,<2.14"
ROOT = Path(__file__).resolve().parent.parent


def pip(*args: str) -> None:
    """Run pip in this interpreter and stop on failure."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(extras: list[str]) -> int:
    """Install torch if missing, then qdiff with ``extras``."""
    if importlib.util.find_spec("torch") is None:
        pip(TORCH_BOOTSTRAP)
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    pip("-e", target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
