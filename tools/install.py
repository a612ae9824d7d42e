"""Install qdiff (editable) into the current Python, with a CPU-friendly torch when none is present.

Usage: ``python tools/install.py [EXTRA ...]`` (e.g. ``python tools/install.py test``).

Why: a bare ``torch`` requirement makes pip fetch the newest release, a multi-GB CUDA build on
Linux, even on machines without a GPU. When torch is missing we first install a release in a
known-good range: on Linux without an NVIDIA driver, from PyTorch's CPU wheel index when it
answers (a ~200 MB wheel instead of the CUDA build and its ~3 GB of libraries), else from pip's
usual indexes (on a machine with a local CPU wheel, such as our CI, that wheel is used; macOS and
Windows wheels on PyPI have no CUDA anyway). A torch you already have is never replaced. Then
qdiff and the requested extras are installed.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

TORCH_BOOTSTRAP = "torch>=2.1,<2.14"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ROOT = Path(__file__).resolve().parent.parent


def pip(*args: str) -> None:
    """Run pip in this interpreter and stop on failure."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def has_nvidia_gpu() -> bool:
    """Whether an NVIDIA driver is installed (then the CUDA build is what the user wants)."""
    return Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None


def answers(url: str, timeout: float = 3.0) -> bool:
    """Whether ``url``'s host accepts a connection within ``timeout`` seconds (offline machines and
    closed networks fail fast here instead of in pip's retries)."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def torch_sources(system: str, nvidia_gpu: bool, cpu_index_answers: bool) -> list[list[str]]:
    """The pip arguments to try, in order, for a missing torch: the CPU wheel index first on Linux
    without an NVIDIA driver when it answers, then pip's usual indexes."""
    usual = [TORCH_BOOTSTRAP]
    if system == "Linux" and not nvidia_gpu and cpu_index_answers:
        return [[TORCH_BOOTSTRAP, "--index-url", CPU_INDEX], usual]
    return [usual]


def install_torch() -> None:
    """Install torch from the first source of :func:`torch_sources` that works."""
    system = platform.system()
    gpu = system == "Linux" and has_nvidia_gpu()
    sources = torch_sources(system, gpu, system == "Linux" and not gpu and answers(CPU_INDEX))
    for i, args in enumerate(sources):
        try:
            pip(*args)
            return
        except subprocess.CalledProcessError:
            if i == len(sources) - 1:
                raise
            print("torch from the CPU index failed; trying pip's usual indexes", flush=True)


def main(extras: list[str]) -> int:
    """Install torch if missing, then qdiff with ``extras``."""
    if importlib.util.find_spec("torch") is None:
        install_torch()
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    pip("-e", target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
