"""Command line of the suite: parse, set the thread count for the OpenMP peers, then run.

    python -m benchmarks.suite [--quick] [--threads N] [--only WORKLOAD ...] [--peers PEER ...]
                               [--sizes WORKLOAD=N,N,...] [--out DIR] [--system-malloc]

Nothing heavy is imported here: lightning.qubit and Qulacs read ``OMP_NUM_THREADS`` (and
``QULACS_NUM_THREADS``) when they load, so these are set before any peer or torch is imported.
Then qiskit-aer is imported before torch: imported after it, Aer's OpenMP calls bind to torch's
libgomp (loaded globally) instead of Aer's own copy, and after one Aer run with two threads every
threaded torch and numba call of the process ran 3-5x slower (a numba parallel region 17 -> 93 us,
qdiff's QAOA n = 16 gradient 25 -> 90 ms): the qdiff rows past the widths where Aer ran measured
that, not qdiff. Imported first, each library keeps its own OpenMP runtime, as in a process of
its own.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

WORKLOADS = ("gate", "hea", "born", "qaoa", "batch", "memory")
PEERS = ("lightning", "default.qubit", "qulacs", "aer")
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _sizes(text: str) -> tuple[str, list[int]]:
    name, _, values = text.partition("=")
    if name not in WORKLOADS + ("memory-n",) or not values:
        raise argparse.ArgumentTypeError(f"expected WORKLOAD=N,N,... with WORKLOAD in {', '.join(WORKLOADS)} "
                                         f"(memory: depths; memory-n: its qubit count), got {text!r}")
    return name, [int(v) for v in values.split(",")]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite",
                                description="qdiff against PennyLane, Qulacs and qiskit-aer, side by side in one run.")
    p.add_argument("--quick", action="store_true",
                   help="fewer sizes and repeats (about 10-15 min on 2 loaded cores), still every target")
    p.add_argument("--threads", type=int, default=2, help="torch, OpenMP and Aer threads (default 2)")
    p.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), metavar="WORKLOAD",
                   help=f"run only these workloads ({', '.join(WORKLOADS)})")
    p.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS), metavar="PEER",
                   help=f"compare only with these peers ({', '.join(PEERS)}); the others read SKIP")
    p.add_argument("--sizes", type=_sizes, action="append", default=[], metavar="WORKLOAD=N,N",
                   help="override a workload's qubit counts (memory: its depths), e.g. --sizes hea=8,20")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for suite.md, suite.csv, suite_time_vs_n.png "
                   "(default benchmarks/results)")
    p.add_argument("--system-malloc", action="store_true", help="leave glibc's malloc thresholds alone")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    for var in ("OMP_NUM_THREADS", "QULACS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if "aer" in args.peers:
        try:  # before torch: see the module docstring
            import qiskit_aer  # noqa: F401
        except ImportError:
            pass  # reported as a skipped peer later
    from .run import run_suite  # heavy imports only now

    return run_suite(args)
