"""What the report states about the run: machine, threads, versions, source, load; and malloc tuning."""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import os
import platform
import subprocess
from pathlib import Path

from .peers import versions

ROOT = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        return f"{kib / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        return "unknown memory"


def load() -> str:
    """Load average over 1 / 5 / 15 minutes."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def load_warning(*loads: str) -> str | None:
    """A warning line when a 1-minute load average (``load()`` strings) exceeded the core count."""
    cores = os.cpu_count() or 1
    first = [float(x.split(" / ")[0]) for x in loads if x != "n/a"]
    if first and max(first) > cores:
        return (f"- **warning: the machine was loaded (1-min load average up to {max(first):.1f} on {cores} "
                "logical CPUs): times are noisy, rerun on a quiet machine before reading a ratio**")
    return None


def git_state() -> str:
    """HEAD's short hash, and whether qdiff/ has uncommitted changes (they are what was measured)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "qdiff"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes in qdiff/" if dirty else "")


def settle_allocator(tune: bool) -> str:
    """Keep glibc's malloc from unmapping and re-faulting 4-32 MiB states between calls (2-4x swings,
    see benchmarks/README.md, "Allocator"); returns a note for the report."""
    if tune:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            m_trim_threshold, m_mmap_max = -1, -4
            if libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 2**31 - 1):
                return "glibc malloc tuned for this process: no mmap, no trimming (states reuse memory)"
        except (OSError, AttributeError, TypeError):
            pass
    return "system malloc"


def header(mode: str, command: str, threads: int, torch_threads: int, allocator: str, load_start: str) -> list[str]:
    """The report's opening lines (the end-of-run load is appended by the caller)."""
    v = versions()
    return [
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}; mode: {mode}; command: `{command}`",
        f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {memory_gib()}; {platform.platform()}",
        f"- threads: torch {torch_threads}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"QULACS_NUM_THREADS={os.environ.get('QULACS_NUM_THREADS')}, qiskit-aer max_parallel_threads={threads}",
        "- dtype: complex128 states and float64 parameters everywhere, except gate rows marked c64 (complex64)",
        f"- versions: Python {platform.python_version()}, " + ", ".join(f"{k} {x}" for k, x in v.items()),
        f"- qdiff source: git {git_state()}",
        f"- allocator: {allocator}",
        f"- load average (1 / 5 / 15 min) at start: {load_start}",
    ]
