"""The GPU targets of issue 9 (and issue 2's batching target), as one short script for a lent GPU
machine (a few minutes).

    python benchmarks/gpu_check.py --out DIR            # on a CUDA machine
    python benchmarks/gpu_check.py --device cpu --gate-sizes 10 --fit-qubits 12 --grad-qubits 8

Four checks, each a ratio within this one run (never a timed unit test):

1. Gate time / copy time on the GPU at n >= 26, complex64: every gate of the simulator benchmark
   (h, rx, rz, x, cz, cx, swap, rzz on low, middle and high qubits), applied by the compiled
   program's ``run``, against one ``clone`` of the state, timed alternately (target: <= 2x).
2. The largest state: a 30-qubit complex64 state (8 GiB) through one layer of the
   hardware-efficient circuit, with the peak memory torch allocated (target: it fits).
3. Energy + adjoint gradient of the 4-layer hardware-efficient ansatz at n = 24, complex128, on
   the GPU against 2 CPU threads on the same machine (target: >= 20x faster on the GPU).
4. Issue 2's batching target on this machine's many CPU cores and on the GPU: 1024 parameter
   sets at n = 8 in one call against 1024 calls (``bench_simulator.bench_batch``, complex128;
   target >= 50x). These two cores cap it near 12x (see benchmarks/README.md); the ceiling
   grows with the cores.

Only the public API and the compiled program are used (no Qiskit, no peers: the GPU machine has
neither). The report (markdown, with the date, device, torch version and threads) is printed and
written to ``DIR/gpu.md``; copy it into benchmarks/results/ with the session's commit.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark the checkout this file belongs to

import torch  # noqa: E402

import qdiff  # noqa: E402
from benchmarks.bench_simulator import BATCH_SPEEDUP, bench_batch  # noqa: E402
from benchmarks.suite.circuits import hea_hamiltonian  # noqa: E402
from benchmarks.suite.impl_qdiff import pauli_sum  # noqa: E402
from qdiff.sim.program import compile_circuit  # noqa: E402

GATE_LIMIT = 2.0
GRADIENT_SPEEDUP = 20.0


def synchronized(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def alternating_medians(fns: list[Callable[[], object]], repeats: int, device: torch.device) -> list[float]:
    """Median seconds of each function, called in turn ``repeats`` times after one warm-up round."""
    sync = synchronized(device)
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats + 1):
        for k, fn in enumerate(fns):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if r:
                times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def gate_circuit(n: int, gate: str, qubits: tuple[int, ...]) -> qdiff.Circuit:
    c = qdiff.Circuit(n)
    if gate in ("rx", "rz", "rzz"):
        return getattr(c, gate)(qdiff.Parameter("theta"), *qubits)
    return getattr(c, gate)(*qubits)


def gate_rows(n: int, device: torch.device, repeats: int) -> list[tuple[str, str, float, float]]:
    """``(gate, qubits, clone ms, run ms)`` for each gate case at ``n`` qubits, complex64."""
    psi = torch.randn(1, 2**n, dtype=torch.complex64, device=device)
    psi /= torch.linalg.vector_norm(psi)
    mid = n // 2
    cases = [(g, (q,)) for g in ("h", "rx", "rz", "x") for q in (0, mid, n - 1)]
    cases += [(g, p) for g in ("cz", "cx", "swap", "rzz") for p in ((0, 1), (mid, n - 1), (n - 1, 0))]
    rows = []
    for gate, qubits in cases:
        circuit = gate_circuit(n, gate, qubits)
        program = compile_circuit(circuit).on(torch.complex64, device)
        values = torch.full((1, circuit.num_parameters), 0.37, dtype=torch.float32, device=device)
        angles = program.angles(values) if program.program.num_slots else None
        clone_t, run_t = alternating_medians([psi.clone, lambda p=program, a=angles: p.run(psi, a)], repeats, device)
        rows.append((gate, str(list(qubits)), clone_t * 1e3, run_t * 1e3))
    return rows


def hea(n: int, layers: int) -> qdiff.Circuit:
    """``layers`` x (ry, rz on every qubit, then a cx chain), one parameter per rotation."""
    w = qdiff.ParameterVector("w", 2 * n * layers)
    c = qdiff.Circuit(n)
    for layer in range(layers):
        for q in range(n):
            k = 2 * (layer * n + q)
            c.ry(w[k], q).rz(w[k + 1], q)
        for q in range(n - 1):
            c.cx(q, q + 1)
    return c


def largest_state(n: int, device: torch.device) -> tuple[float, float]:
    """Seconds and peak GiB for one hardware-efficient layer on ``n`` qubits, complex64."""
    c = hea(n, 1)
    values = torch.rand(c.num_parameters, dtype=torch.float32, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync = synchronized(device)
    sync()
    t0 = time.perf_counter()
    with torch.no_grad():
        psi = qdiff.state(c, values, dtype=torch.complex64, device=device)
        norm = float(torch.linalg.vector_norm(psi))
    sync()
    seconds = time.perf_counter() - t0
    if abs(norm - 1) > 1e-3:
        raise RuntimeError(f"the {n}-qubit state lost its norm: {norm}")
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else psi.numel() * psi.element_size()
    return seconds, peak / 2**30


def gradient_seconds(n: int, device: torch.device, repeats: int) -> float:
    """Median seconds of energy + adjoint gradient, 4-layer hardware-efficient ansatz, complex128."""
    c, h = hea(n, 4), pauli_sum(hea_hamiltonian(n))
    values = torch.rand(c.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(n))

    def step() -> None:
        x = values.to(device).requires_grad_(True)
        qdiff.expval(c, h, x, method="adjoint").backward()

    return alternating_medians([step], repeats, device)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to try the script")
    parser.add_argument("--gate-sizes", default="26,28,30", help="qubit counts of check 1")
    parser.add_argument("--fit-qubits", type=int, default=30, help="qubits of check 2")
    parser.add_argument("--grad-qubits", type=int, default=24, help="qubits of check 3")
    parser.add_argument("--cpu-threads", type=int, default=2, help="CPU threads of check 3's reference")
    parser.add_argument("--batch", type=int, default=1024, help="parameter sets of check 4")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu.md")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check (use --device cpu to try the script)")
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    lines = [f"# GPU checks ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)", "",
             (f"Device: {name}; torch {torch.__version__}; Python {platform.python_version()}; "
              f"CPU reference: {args.cpu_threads} threads."), ""]
    failures = 0

    lines += ["## 1. Gate time / copy time, complex64 (target <= 2x)", "",
              "| n | gate | qubits | clone ms | run ms | run/clone | result |", "|---|---|---|---|---|---|---|"]
    for n in (int(s) for s in args.gate_sizes.split(",")):
        for gate, qubits, clone_ms, run_ms in gate_rows(n, device, args.repeats):
            ok = run_ms <= GATE_LIMIT * clone_ms
            failures += not ok
            lines.append(f"| {n} | {gate} | {qubits} | {clone_ms:.3f} | {run_ms:.3f} | {run_ms / clone_ms:.2f}x | "
                         f"{'PASS' if ok else 'FAIL'} |")
        torch.cuda.empty_cache() if device.type == "cuda" else None

    seconds, peak = largest_state(args.fit_qubits, device)
    lines += ["", f"## 2. {args.fit_qubits} qubits, complex64: one hardware-efficient layer", "",
              f"Ran in {seconds:.2f} s, peak memory allocated {peak:.1f} GiB: PASS (it fits).", ""]

    n = args.grad_qubits
    accelerated = gradient_seconds(n, device, max(3, args.repeats // 2))
    threads = torch.get_num_threads()
    torch.set_num_threads(args.cpu_threads)
    try:
        cpu = gradient_seconds(n, torch.device("cpu"), 2)
    finally:
        torch.set_num_threads(threads)
    speedup = cpu / accelerated
    ok = speedup >= GRADIENT_SPEEDUP
    failures += not ok
    lines += [f"## 3. Energy + adjoint gradient, 4-layer hardware-efficient ansatz, n = {n}, complex128", "",
              (f"{args.device}: {accelerated * 1e3:.1f} ms; CPU, {args.cpu_threads} threads: {cpu * 1e3:.1f} ms; "
               f"speed-up {speedup:.1f}x (target >= {GRADIENT_SPEEDUP:.0f}x): {'PASS' if ok else 'FAIL'}"), ""]
    lines += [f"## 4. Issue 2, target 3: {args.batch} parameter sets at n = 8, one call against {args.batch} "
              f"(target >= {BATCH_SPEEDUP:.0f}x)", "",
              f"| where | call | batched ms | {args.batch} calls ms | speed-up | ceiling (CPU) | result |",
              "|---|---|---|---|---|---|---|"]
    for where, rows in (("CPU, all threads", bench_batch(["complex128"], args.batch, 3)),
                        (args.device, bench_batch(["complex128"], args.batch, 3, device) if device.type == "cuda" else [])):
        for r in rows:
            ok = r.speedup >= BATCH_SPEEDUP
            failures += not ok
            ceiling = "n/a" if r.ceiling is None else f"{r.ceiling:.1f}x ({r.threads} threads)"
            lines.append(f"| {where} | {r.what} | {r.batched_ms:.2f} | {r.loop_ms:.0f} | {r.speedup:.1f}x | {ceiling} | "
                         f"{'PASS' if ok else 'FAIL'} |")
    report = "\n".join(lines)
    print(report)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu.md").write_text(report + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
