"""Smoke test of the benchmark suite (benchmarks/suite): its smallest workloads at tiny sizes.

Proves that rows come out, that the cross-checks against a peer run (Qulacs, when installed: it
imports in well under a second, unlike PennyLane), and that the table and CSV are written. No
time is asserted: the suite measures, tests only check that it works.
"""

from __future__ import annotations

import csv
import importlib.util

import numpy as np

from benchmarks.suite import gates, hea
from benchmarks.suite.circuits import qaoa, regular_graph_edges
from benchmarks.suite.context import Context
from benchmarks.suite.peers import Peers
from benchmarks.suite.report import markdown_table, write_csv

HAVE_QULACS = importlib.util.find_spec("qulacs") is not None


def test_smallest_workloads_produce_rows_and_cross_checks(tmp_path):
    ctx = Context(quick=True, peers=Peers(("qulacs",)), sizes={"hea": [4], "gate": [4]}, budget_s=0.0,
                  verbose=False)
    rows = hea.run(ctx) + gates.run(ctx)
    workloads = {r.workload for r in rows}
    assert {"hea-forward", "hea-grad", "gate", "copy"} <= workloads
    assert all(r.ours is not None and r.ours.median > 0 for r in rows)
    skipped = {r.peer for r in rows if r.status == "SKIP"}
    assert "lightning.qubit adjoint" in skipped  # not selected: a SKIP row, never an error
    if HAVE_QULACS:
        assert any("qdiff vs Qulacs backprop" in c for c in ctx.checks)
        assert any(c.startswith("gate ") for c in ctx.checks)
        assert any(r.peer == "Qulacs backprop" and r.status == "info" for r in rows)
    write_csv(rows, tmp_path / "suite.csv")
    with (tmp_path / "suite.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert markdown_table(rows).count("\n") == len(rows) + 1


def test_shared_parameters_chain_rule():
    """QAOA's gamma is shared by every edge: a per-gate gradient sums back onto it."""
    n = 4
    spec = qaoa(n, 1, regular_graph_edges(n, 3, seed=0))
    theta = np.array([0.3, 0.7])
    angles = spec.angles(theta)
    assert np.allclose(angles[:6], -0.3) and np.allclose(angles[6:], 1.4)
    assert np.allclose(spec.chain(np.ones_like(angles)), [-6.0, 8.0])


def test_count_ops_sees_compute_views_and_the_backward():
    """benchmarks/count_ops.py counts aten calls of forward and backward, views apart."""
    import torch

    from benchmarks.count_ops import VIEWS, count, report

    a = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 2, dtype=torch.float64)
    calls = count(lambda: (a.view(12).view(3, 4) @ b).sum().backward())
    assert calls["mm"] == 2  # the product forward and its gradient with respect to a
    assert calls["view"] >= 2 and "view" in VIEWS
    assert report("probe", calls).startswith("probe: ")


def test_batch_target_interleaves_batched_calls_with_stretches_of_the_loop():
    import torch

    from benchmarks.bench_simulator import interleaved_batch_times

    calls: list[int] = []
    values = torch.zeros(32, 3)
    batched, loop = interleaved_batch_times(lambda v: calls.append(v.dim()), values, repeats=2, segments=4)
    # warm-up: one batched call and 8 single ones; then per repeat 4 x 2 batched calls and all 32 rows
    assert calls.count(2) == 1 + 2 * 4 * 2 and calls.count(1) == 8 + 2 * 32
    order = calls[9:9 + 10]
    assert order == [2, 2] + [1] * 8  # an untimed and a timed batched call before each stretch of 32 / 4 rows
    assert batched > 0 and loop > 0


def test_interleaved_warms_fast_functions_before_each_timed_call(monkeypatch):
    """A fast function runs once untimed before each timed call after the first round; a slow one
    (last call over WARM_BELOW_S) does not. Times come from a fake clock: 1 ms and 100 ms calls."""
    from benchmarks.suite import timing

    clock = [0.0]
    calls = {"fast": 0, "slow": 0}

    def make(name: str, seconds: float):  # type: ignore[no-untyped-def]
        def f() -> None:
            calls[name] += 1
            clock[0] += seconds
        return f

    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    stats = timing.interleaved({"fast": make("fast", 0.001), "slow": make("slow", 0.1)}, budget_s=0.0,
                               min_repeats=4, max_repeats=4, warmup=1)
    assert stats["fast"].repeats == stats["slow"].repeats == 4
    assert calls == {"fast": 1 + 4 + 3, "slow": 1 + 4}
    assert abs(stats["fast"].median - 0.001) < 1e-12 and abs(stats["slow"].median - 0.1) < 1e-12


def test_gpu_check_runs_its_four_checks_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.py (run on a lent GPU machine) works end to end with ``--device cpu``
    at tiny sizes: every gate case, the largest-state run, the gradient comparison and the
    batching target (its CPU rows, with their ceiling) report."""
    from benchmarks import gpu_check

    code = gpu_check.main(["--device", "cpu", "--gate-sizes", "6", "--fit-qubits", "7", "--grad-qubits", "4",
                           "--batch", "16", "--repeats", "1", "--out", str(tmp_path)])
    report = (tmp_path / "gpu.md").read_text()
    assert code in (0, 1)  # 1: some CPU ratio misses a GPU target, as expected at these sizes
    assert report.count("| 6 |") == 24  # 4 one-qubit gates x 3 qubits + 4 two-qubit gates x 3 pairs
    assert "## 2. 7 qubits" in report and "## 3. " in report and "speed-up" in report
    assert "## 4. Issue 2, target 3: 16 parameter sets" in report
    assert report.count("| CPU, all threads | qdiff.") == 2 and "threads) |" in report  # state, expval; a ceiling


def test_gpu_check_without_cuda_says_so_and_exits_2(monkeypatch, capsys):
    """Asked for CUDA where there is none, the script names the problem and the CPU option."""
    import torch

    from benchmarks import gpu_check

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 2
    out = capsys.readouterr().out
    assert "no CUDA device" in out and "--device cpu" in out


def test_batch_ceiling_times_the_tape_kernel_on_every_row(monkeypatch):
    """The ceiling of target 3 comes from the numba kernel itself, run once per timed repeat on
    all rows of the batch (their final states equal qdiff.state's), and from the rows / threads."""
    import pytest
    import torch

    pytest.importorskip("numba")
    import qdiff
    from benchmarks.bench_simulator import BatchRow, hardware_efficient, kernel_seconds_per_row
    from qdiff.sim import tape as tape_module

    kernels = tape_module._kernels()
    seen: list[np.ndarray] = []

    class Recording:
        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(kernels, name)

        def run(self, x, *rest):  # type: ignore[no-untyped-def]
            kernels.run(x, *rest)
            seen.append(x.copy())

    monkeypatch.setattr(tape_module, "_kernels", lambda: Recording())
    circuit = hardware_efficient(3, 2)
    values = torch.rand(5, circuit.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    seconds, threads = kernel_seconds_per_row(circuit, values, repeats=3)
    assert seconds > 0 and threads >= 1
    assert len(seen) == 2 + 3 and all(x.shape == (5, 8) for x in seen)  # warm-up twice, then each repeat
    np.testing.assert_allclose(seen[-1], qdiff.state(circuit, values).numpy(), atol=1e-12)
    row = BatchRow("qdiff.state", "complex128", batched_ms=2.0, loop_ms=100.0, kernel_row_us=10.0, threads=2, rows=1000)
    assert row.speedup == 50.0 and row.ceiling == 100.0 / (10e-3 * 1000 / 2)
