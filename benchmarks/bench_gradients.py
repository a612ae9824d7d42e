"""Superseded by the benchmark suite (benchmarks/suite, issue 9); kept as a thin wrapper.

    python benchmarks/bench_gradients.py [--quick] [...]

runs ``python -m benchmarks.suite --only hea born batch [...]``: the gradient workloads that
this script used to time (A: hardware-efficient energy + gradient, B: Born-machine step, C: batch
of 256), with the same peers and cross-checks, and more. Any suite option may follow (a later
``--only`` wins). Results go to benchmarks/results/suite.md, suite.csv and suite_time_vs_n.png;
benchmarks/results/gradients.md keeps this script's last table as history.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmark the checkout this file belongs to

from benchmarks.suite.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--only", "hea", "born", "batch", *sys.argv[1:]]))
