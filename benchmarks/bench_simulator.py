"""Performance floors of the torch statevector simulator, measured as ratios within one run.

    python benchmarks/bench_simulator.py [--quick]

Three targets (floors, never timed unit tests):

1. Gate cost against one copy of the state (``torch.clone``), at n = 20..24, complex128 and
   complex64: a dense single-qubit gate (h, rx) at most 3x, a diagonal or permutation gate
   (rz, x, cz, cx, swap, rzz) at most 2x, for target qubits 0, 1, 2, 3, mid, n-1 and qubit pairs
   adjacent and far apart. The gate is a one-gate circuit compiled by
   ``qdiff.sim.program.compile_circuit`` and applied by ``TorchProgram.run`` (the kernels of
   ``qdiff.sim.kernels`` fed with the sorted qubits and operators the compiler produces); the
   public ``qdiff.state`` on the same circuit and state is shown beside it. Clone and gate are
   timed alternately, so both see the same machine load; the public call is timed against a
   clone of its own, after the pair (a third call in the rotation, three passes over a state that
   half fills the cache at n = 20, slowed the gate after it more than the clone: see
   benchmarks/README.md, session 14).
2. Per-gate overhead at n <= 10 under 20 us: a long circuit of mixed parametrized gates, through
   ``qdiff.state`` and through the compiled program's ``run``, divided by its gate count.
3. Batching: 1024 parameter sets at n = 8 through one call at least 50x faster than 1024 calls
   (``qdiff.state`` and ``qdiff.expval`` of a 4-layer hardware-efficient circuit). Beside it the
   *ceiling*: the speed-up if the batched call cost only the numba tape kernel's arithmetic on its
   rows, spread perfectly over the threads (:func:`kernel_seconds_per_row`).

Named cases (``--case NAME ...``, printed only, not part of the report; each uses the public API
only, so the same file can time an older checkout: copy it there and run it):

* ``pauli-rotation``: one 10-qubit Pauli rotation (``pauli_rot``) on n = 16, complex128: first
  call (compile + run), forward, forward + adjoint gradient, forward + backprop;
* ``lih-uccsd``: the LiH UCCSD ansatz of ``qdiff vqe --model lih`` (12 qubits, 92 parameters,
  644 Pauli rotations on 1..12 qubits) and its 631-term Hamiltonian: compile, first and steady
  forward + adjoint gradient of the energy;
* ``born-per-row``: the 9-qubit depth-10 Born machine (``born_circuit`` on the Chow-Liu tree of
  bars-and-stripes 3x3, 279 parameters) with per-row angles: ``qdiff.probs`` of 64 and of
  2 * 279 + 1 = 559 parameter sets (a parameter-shift batch), complex128 and complex64, and one
  parameter-shift gradient of a probability-weighted loss (558 shifted sets in one run).

Every time is the median of several repeats after a warm-up. glibc's malloc is set for this
process not to unmap and re-fault states between calls (``--system-malloc`` to leave it alone;
see :func:`settle_allocator` and benchmarks/README.md). The report (markdown) is printed and
written to ``benchmarks/results/simulator.md``.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import datetime
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark the checkout this file belongs to

import numpy as np  # noqa: E402
import torch  # noqa: E402

import qdiff  # noqa: E402
from qdiff.sim.program import compile_circuit  # noqa: E402

DENSE_LIMIT = 3.0
CHEAP_LIMIT = 2.0
OVERHEAD_LIMIT_US = 20.0
BATCH_SPEEDUP = 50.0
DTYPES = {"complex128": torch.complex128, "complex64": torch.complex64}
GROUPS = (("dense 1q (h, rx)", ("h", "rx"), DENSE_LIMIT),
          ("diag/perm 1q (rz, x)", ("rz", "x"), CHEAP_LIMIT),
          ("diag/perm 2q (cz, cx, swap, rzz)", ("cz", "cx", "swap", "rzz"), CHEAP_LIMIT))


def paired_medians(fns: list[Callable[[], object]], repeats: int, warmup: int = 1) -> list[float]:
    """Median wall times of several functions timed in turn (one of each per repeat)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def settle_allocator(tune: bool) -> str:
    """Keep glibc's malloc from unmapping and re-faulting states between calls; returns a note.

    glibc serves a block above its mmap threshold (128 KiB, raised to the largest mapped block
    freed so far, at most 32 MiB) with fresh pages, a page fault per 4 KiB, and unmaps it on free;
    the heap top is trimmed now and then. So whether a 4-32 MiB state (n = 8 batches, n = 20-22)
    is faulted in anew depends on what ran before, call by call: 2-4x swings that hit the copy
    and the gates at random, while states above 32 MiB are always faulted in (which pads both
    sides of the ratio). ``tune``: no mmap and no trimming for the whole run, so every state
    after its first use is reused memory; ratios then measure the kernels, not the page faults.
    Without ``tune`` (or without glibc) one 24 MiB block is freed first, which only moves the
    threshold.
    """
    if tune:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            m_trim_threshold, m_mmap_max = -1, -4
            if libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 2**31 - 1):
                return "glibc malloc set by this benchmark: no mmap, no trimming (memory reused, no page faults)"
        except (OSError, AttributeError, TypeError):
            pass
    torch.empty(3 << 20, dtype=torch.float64).fill_(0.0)
    return "system malloc (one 24 MiB block freed first)"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


# ------------------------------------------------------------------------------ 1. gate vs clone


@dataclass
class GateRow:
    n: int
    dtype: str
    gate: str
    qubits: tuple[int, ...]
    kind: str
    clone_ms: float
    run_ms: float
    state_ms: float
    limit: float
    state_clone_ms: float  # the clone timed alternately with the public call


    @property
    def ratio(self) -> float:
        return self.run_ms / self.clone_ms

    @property
    def state_ratio(self) -> float:
        return self.state_ms / self.state_clone_ms


def gate_cases(n: int) -> list[tuple[str, tuple[int, ...], float]]:
    """``(gate, qubits, limit)`` for every gate and target position of target 1."""
    mid = n // 2
    singles = sorted({0, 1, 2, 3, mid, n - 1})
    pairs = [(0, 1), (mid, mid + 1), (n - 2, n - 1), (0, n - 1), (n - 1, 0), (3, mid)]
    cases = []
    for g, limit in (("h", DENSE_LIMIT), ("rx", DENSE_LIMIT), ("rz", CHEAP_LIMIT), ("x", CHEAP_LIMIT)):
        cases += [(g, (q,), limit) for q in singles]
    for g in ("cz", "cx", "swap", "rzz"):
        cases += [(g, p, CHEAP_LIMIT) for p in pairs]
    return cases


def one_gate_circuit(n: int, gate: str, qubits: tuple[int, ...]) -> qdiff.Circuit:
    c = qdiff.Circuit(n)
    if gate in ("rx", "rz", "rzz"):
        getattr(c, gate)(qdiff.Parameter("theta"), *qubits)
    else:
        getattr(c, gate)(*qubits)
    return c


def bench_gates(sizes: list[int], dtypes: list[str], repeats: int, log: Callable[[str], None]) -> list[GateRow]:
    rows = []
    device = torch.device("cpu")
    for name in dtypes:
        dtype = DTYPES[name]
        real = torch.empty((), dtype=dtype).real.dtype
        for n in sizes:
            gen = torch.Generator().manual_seed(n)
            psi = torch.randn(1, 2**n, dtype=dtype, generator=gen)
            psi /= torch.linalg.vector_norm(psi)
            t_start = time.perf_counter()
            for gate, qubits, limit in gate_cases(n):
                circuit = one_gate_circuit(n, gate, qubits)
                program = compile_circuit(circuit).on(dtype, device)
                values = torch.full((circuit.num_parameters,), 0.37, dtype=real)
                angles = program.angles(values[None]) if program.program.num_slots else None
                gc.collect()
                times = repeats if n > 21 else 2 * repeats  # small states are quick: more repeats, less noise
                clone_t, run_t = paired_medians([lambda: psi.clone(), lambda: program.run(psi, angles)], times)
                state_clone_t, state_t = paired_medians([
                    lambda: psi.clone(),
                    lambda: qdiff.state(circuit, values, initial_state=psi, dtype=dtype),
                ], times)
                rows.append(GateRow(n, name, gate, qubits, program.program.steps[0].kind,
                                    clone_t * 1e3, run_t * 1e3, state_t * 1e3, limit, state_clone_t * 1e3))
            log(f"  gates n={n} {name}: {time.perf_counter() - t_start:.1f} s")
    return rows


# ----------------------------------------------------------------------------- 2. gate overhead


def mixed_circuit(n: int, layers: int) -> qdiff.Circuit:
    """A long circuit of mixed gates, one fresh parameter per rotation."""
    c = qdiff.Circuit(n)
    count = 0

    def p() -> qdiff.Parameter:
        nonlocal count
        count += 1
        return qdiff.Parameter(f"p{count}")

    for layer in range(layers):
        for q in range(n):
            c.ry(p(), q)
            c.rz(p(), q)
        c.h(layer % n)
        for q in range(n - 1):
            c.cx(q, q + 1)
        c.cz(0, n - 1)
        c.rzz(p(), 1, 2)
        c.rx(p(), n // 2)
        c.swap(0, 2)
        c.x(n - 1)
        c.crx(p(), n - 1, 0)
        c.sx(1)
    return c


@dataclass
class OverheadRow:
    n: int
    gates: int
    path: str
    total_ms: float

    @property
    def per_gate_us(self) -> float:
        return self.total_ms * 1e3 / self.gates


def bench_overhead(sizes: list[int], repeats: int) -> list[OverheadRow]:
    rows = []
    for n in sizes:
        circuit = mixed_circuit(n, 20)
        gates = len(circuit.ops)
        values = torch.rand(circuit.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        program = compile_circuit(circuit).on(torch.complex128, torch.device("cpu"))
        angles = program.angles(values[None])
        initial = torch.zeros(1, 2**n, dtype=torch.complex128)
        initial[0, 0] = 1
        t_state, t_run = paired_medians([lambda: qdiff.state(circuit, values),
                                         lambda: program.run(initial, angles)], repeats, warmup=3)
        rows.append(OverheadRow(n, gates, "qdiff.state", t_state * 1e3))
        rows.append(OverheadRow(n, gates, "TorchProgram.run", t_run * 1e3))
    return rows


# ------------------------------------------------------------------------------------ 3. batching


def hardware_efficient(n: int, layers: int) -> qdiff.Circuit:
    """``layers`` x (ry, rz on every qubit, then a cx chain)."""
    w = qdiff.ParameterVector("w", 2 * n * layers)
    c = qdiff.Circuit(n)
    k = 0
    for _ in range(layers):
        for q in range(n):
            c.ry(w[k], q).rz(w[k + 1], q)
            k += 2
        for q in range(n - 1):
            c.cx(q, q + 1)
    return c


@dataclass
class BatchRow:
    what: str
    dtype: str
    batched_ms: float
    loop_ms: float
    kernel_row_us: float | None = None  # see kernel_seconds_per_row
    threads: int = 1  # that a batched call spreads its rows over
    rows: int = 0

    @property
    def speedup(self) -> float:
        return self.loop_ms / self.batched_ms

    @property
    def ceiling(self) -> float | None:
        """The speed-up of a batched call that cost nothing but the kernel's arithmetic, spread
        perfectly over the threads: the loop's time over ``rows x kernel / threads``."""
        if self.kernel_row_us is None:
            return None
        rows_ms = self.kernel_row_us * 1e-3 * self.rows / self.threads
        return self.loop_ms / rows_ms


def kernel_seconds_per_row(circuit: qdiff.Circuit, values: torch.Tensor, repeats: int,
                           dtype: torch.dtype = torch.complex128) -> tuple[float, int] | None:
    """``(seconds per row, threads)``: the numba tape kernel that a batched call runs (rows side
    by side in blocks, :func:`qdiff.sim.tape.lanes`, with the torch trigonometry it takes; or the
    row kernel) alone on every row of the batch on one thread (no Python, validation, allocation
    or copies of states; the arithmetic a batched call cannot avoid), and the thread count a
    batched call spreads its rows over; for states of ``dtype`` (the lanes compute complex64 in
    float32, the row kernel everything in complex128). ``None`` without numba. Reaches into
    :mod:`qdiff.sim.tape` on purpose: this is the floor under the public call."""
    from qdiff.sim import tape as tape_module

    program = compile_circuit(circuit)
    B = values.shape[0]
    state = torch.zeros(B, 2**circuit.num_qubits, dtype=dtype)
    tape = tape_module.tape_for(program, state)
    kernels = tape_module._kernels()
    if tape is None or kernels is None:
        return None
    import numba

    lanes = tape_module.lanes(tape, state)
    x = (state if lanes else state.to(torch.complex128)).numpy()  # the row kernel computes in complex128
    angles = program.on(torch.complex128, torch.device("cpu")).angles(values.to(torch.float64)).numpy()
    initial = np.zeros((1, x.shape[1]), dtype=complex)
    initial[0, 0] = 1  # every row starts from |0...0>, copied in by the kernel as in a batched call
    arrays = tape_module._arrays(tape)
    threads, blocks = numba.get_num_threads(), tape_module.lane_blocks(B)

    def one_thread() -> None:
        if lanes:
            cos, sin = tape_module.lane_trigonometry(tape, angles, B, x.real.dtype.type)
            kernels.run_lanes(x, initial, angles, cos, sin, tape.lane_trig[0], tape.lane_real, blocks, *arrays)
        else:
            kernels.run(x, initial, angles, *arrays)

    torch_threads = torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        (seconds,) = paired_medians([one_thread], repeats, warmup=2)
    finally:
        numba.set_num_threads(threads)
        torch.set_num_threads(torch_threads)
    return seconds / B, threads


def bench_batch(dtypes: list[str], batch: int, repeats: int, device: torch.device | None = None) -> list[BatchRow]:
    """Target 3 on ``device`` (default the CPU; on a GPU each call waits for its result, and no
    ceiling is given: the tape kernel runs on the CPU only)."""
    device = torch.device("cpu") if device is None else device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    n = 8
    circuit = hardware_efficient(n, 4)
    observable = sum((qdiff.Z(q) @ qdiff.Z(q + 1) for q in range(n - 1)), qdiff.X(0))
    rows = []
    for name in dtypes:
        dtype = DTYPES[name]
        real = torch.empty((), dtype=dtype).real.dtype
        values = torch.rand(batch, circuit.num_parameters, dtype=real, generator=torch.Generator().manual_seed(2))

        def waited(out: torch.Tensor) -> torch.Tensor:
            sync()
            return out

        calls = {
            "qdiff.state": lambda v: waited(qdiff.state(circuit, v, dtype=dtype)),
            "qdiff.expval": lambda v: waited(qdiff.expval(circuit, observable, v, dtype=dtype)),
        }
        floor = kernel_seconds_per_row(circuit, values, 2 * repeats + 1, dtype) if device.type == "cpu" else None
        kernel_us, threads = (floor[0] * 1e6, floor[1]) if floor else (None, 1)
        values = values.to(device)
        for what, call in calls.items():
            t_batched, t_loop = interleaved_batch_times(call, values, repeats)
            rows.append(BatchRow(what, name, t_batched * 1e3, t_loop * 1e3, kernel_us, threads, batch))
    return rows


def interleaved_batch_times(call: Callable[[torch.Tensor], object], values: torch.Tensor, repeats: int,
                            segments: int = 16) -> tuple[float, float]:
    """``(one batched call, B single calls)`` in seconds, as medians over ``repeats``.

    Each repeat cuts the loop of single calls into ``segments`` stretches and times one batched
    call before each, so both sides sample the same moments of a shared machine's load (a loop
    timed whole lasts 0.4-1.3 s here, and one load spike in it moved the ratio by 2x between runs).
    Each timed batched call follows an untimed one (steady state, as in a loop of batched calls;
    single calls are warm from each other). The batched time of a repeat is the median of its
    calls; the loop time the sum of its stretches.
    """
    B = values.shape[0]
    bounds = [B * s // segments for s in range(segments + 1)]
    call(values)
    for i in range(min(B, 8)):
        call(values[i])
    batched_medians, loops = [], []
    for _ in range(repeats):
        stretches, batched = [], []
        for s in range(segments):
            call(values)  # untimed: the timed call runs warm, as in a loop of batched calls
            t0 = time.perf_counter()
            call(values)  # results dropped at once, as in a training loop
            batched.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(bounds[s], bounds[s + 1]):
                call(values[i])
            stretches.append(time.perf_counter() - t0)
        batched_medians.append(statistics.median(batched))
        loops.append(sum(stretches))
    return statistics.median(batched_medians), statistics.median(loops)


# ----------------------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs"


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def report(args: argparse.Namespace, gates: list[GateRow], overhead: list[OverheadRow],
           batch: list[BatchRow], load_start: str, seconds: float) -> str:
    head = [
        "# qdiff simulator benchmark\n",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {machine()}; torch threads: {torch.get_num_threads()}",
        f"- torch {torch.__version__}, Python {platform.python_version()}, {platform.platform()}",
        f"- dtypes: {', '.join(args.dtypes)}; sizes n = {', '.join(map(str, args.sizes))}; "
        f"repeats: {args.repeats} (median, after warm-up); mode: {'quick' if args.quick else 'full'}",
        f"- load average (1/5/15 min) at start: {load_start}, at end: {load()}; run time {seconds:.0f} s",
        f"- allocator: {args.malloc_note}",
        "- targets are floors, checked as ratios measured in this run; on a shared machine a high load "
        "average means noisy times, so rerun before trusting a FAIL",
        "",
    ]
    out: list[str] = []
    w = out.append
    summary: list[tuple[str, str, str, bool]] = []
    if gates:
        w("## 1. Gate time / clone time (target: dense <= 3x, diagonal or permutation <= 2x)\n")
        w("Worst ratio per group for the kernels (`TorchProgram.run` of a one-gate program); in brackets the "
          "same through `qdiff.state`, which adds its per-call overhead (validation, compiled-program lookup):\n")
        w("| n | dtype | group | limit | worst run/clone | at | worst state/clone | result |")
        w("|---|---|---|---|---|---|---|---|")
        for name in args.dtypes:
            for n in args.sizes:
                for group, names, limit in GROUPS:
                    sel = [r for r in gates if r.n == n and r.dtype == name and r.gate in names]
                    if not sel:
                        continue
                    worst = max(sel, key=lambda r: r.ratio)
                    worst_state = max(r.state_ratio for r in sel)
                    ok = worst.ratio <= limit
                    summary.append((f"1. {group}, n={n}, {name}", f"{worst.ratio:.2f}x <= {limit:.0f}x",
                                    f"{worst.gate}{list(worst.qubits)}", ok))
                    w(f"| {n} | {name} | {group} | {limit:.0f}x | {worst.ratio:.2f}x | "
                      f"{worst.gate} {list(worst.qubits)} | ({worst_state:.2f}x) | {verdict(ok)} |")
        w("")
    if overhead:
        w(f"## 2. Per-gate overhead at small n (target: < {OVERHEAD_LIMIT_US:.0f} us per gate)\n")
        w("| n | gates | path | total ms | us / gate | result |")
        w("|---|---|---|---|---|---|")
        for r in overhead:
            ok = r.per_gate_us < OVERHEAD_LIMIT_US
            summary.append((f"2. overhead n={r.n} via {r.path}", f"{r.per_gate_us:.1f} us < {OVERHEAD_LIMIT_US:.0f} us",
                            "", ok))
            w(f"| {r.n} | {r.gates} | {r.path} | {r.total_ms:.2f} | {r.per_gate_us:.1f} | {verdict(ok)} |")
        w("")
    if batch:
        w(f"## 3. Batch of {args.batch} at n = 8, 4-layer hardware-efficient circuit "
          f"(target: >= {BATCH_SPEEDUP:.0f}x)\n")
        w("Ceiling: the speed-up a batched call would reach if it cost nothing but the tape kernel's "
          "arithmetic (the numba kernel alone on every row, one thread, timed in this run), spread "
          "perfectly over the threads: separate calls / (rows x kernel per row / threads). A ceiling "
          "under the target means no batching overhead left to remove could meet it.\n")
        w(f"| call | dtype | one batched call ms | {args.batch} separate calls ms | speed-up | "
          "kernel us / row (1 thread) | threads | ceiling | result |")
        w("|---|---|---|---|---|---|---|---|---|")
        for r in batch:
            ok = r.speedup >= BATCH_SPEEDUP
            ceiling = "n/a" if r.ceiling is None else f"{r.ceiling:.1f}x"
            kernel = "n/a" if r.kernel_row_us is None else f"{r.kernel_row_us:.2f}"
            summary.append((f"3. batch {r.what}, {r.dtype}", f"{r.speedup:.1f}x >= {BATCH_SPEEDUP:.0f}x",
                            f"ceiling {ceiling}", ok))
            w(f"| {r.what} | {r.dtype} | {r.batched_ms:.1f} | {r.loop_ms:.0f} | {r.speedup:.1f}x | {kernel} | "
              f"{r.threads} | {ceiling} | {verdict(ok)} |")
        w("")
    if gates:
        w("## Detail: every gate (times in ms, medians; clone timed alternately with each gate, and again "
          "with each public call)\n")
        w("| n | dtype | gate | qubits | kind | clone | run | run/clone | clone | state() | state/clone | limit | "
          "result |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in gates:
            w(f"| {r.n} | {r.dtype} | {r.gate} | {list(r.qubits)} | {r.kind} | {r.clone_ms:.3f} | "
              f"{r.run_ms:.3f} | {r.ratio:.2f}x | {r.state_clone_ms:.3f} | {r.state_ms:.3f} | {r.state_ratio:.2f}x | "
              f"{r.limit:.0f}x | "
              f"{verdict(r.ratio <= r.limit)} |")
        w("")
    head += ["## Summary\n", "| target | measured | worst case | result |", "|---|---|---|---|"]
    head += [f"| {t} | {m} | {c} | {verdict(ok)} |" for t, m, c, ok in summary]
    passed = sum(ok for *_, ok in summary)
    head += ["", f"{passed} of {len(summary)} checks pass.", ""]
    return "\n".join(head + out)


def _best_ms(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` timed calls, in ms (the least disturbed run on a shared machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def case_pauli_rotation(repeats: int) -> list[str]:
    """One 10-qubit Pauli rotation on n = 16 (see the module docstring)."""
    n, t = 16, qdiff.Parameter("t")
    c = qdiff.Circuit(n).pauli_rot("XYZXYZXYZX", [0, 2, 3, 5, 7, 8, 10, 12, 13, 15], t)
    v = torch.tensor([0.3], dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    psi = torch.randn(2**n, dtype=torch.complex128, generator=g)
    psi = psi / psi.norm()

    def grad(method: str) -> None:
        x = v.clone().requires_grad_(True)
        s = qdiff.state(c, x, initial_state=psi, method=method)
        (s.real.sum() + s.imag.sum()).backward()

    first = _best_ms(lambda: qdiff.state(c, v, initial_state=psi), 1)
    rows = [("first call (compile + run)", first),
            ("forward", _best_ms(lambda: qdiff.state(c, v, initial_state=psi), repeats)),
            ("forward + adjoint", _best_ms(lambda: grad("adjoint"), repeats)),
            ("forward + backprop", _best_ms(lambda: grad("backprop"), repeats))]
    return [f"| pauli-rotation | {what} | {ms:.2f} |" for what, ms in rows]


def case_lih_uccsd(repeats: int) -> list[str]:
    """Forward + adjoint gradient of the LiH UCCSD energy (see the module docstring)."""
    from qdiff.apps.variational.ansatz import particle_conserving
    from qdiff.apps.variational.chemistry import molecule

    mol = molecule("lih")
    c = particle_conserving(mol.num_qubits, mol.num_electrons, singles=True)
    g = torch.Generator().manual_seed(0)
    v = (torch.rand(c.num_parameters, generator=g, dtype=torch.float64) * 2 - 1) * 0.1
    qdiff.expval(qdiff.Circuit(1).rx(0.1, 0), qdiff.Z(0))  # torch's lazy imports out of the timings

    def once() -> None:
        x = v.clone().requires_grad_(True)
        qdiff.expval(c, mol.hamiltonian, x, method="adjoint").backward()

    rows = [("compile", _best_ms(lambda: compile_circuit(c), 1)),
            ("first forward + adjoint (torch program, plan, run)", _best_ms(once, 1)),
            ("forward + adjoint", _best_ms(once, repeats))]
    return [f"| lih-uccsd | {what} | {ms:.1f} |" for what, ms in rows]


def case_born_per_row(repeats: int) -> list[str]:
    """Per-row 8 x 8 blocks of a Born machine batch (see the module docstring)."""
    from qdiff.apps.qcbm.circuit import born_circuit, chow_liu_tree
    from qdiff.apps.qcbm.data import bars_and_stripes

    c = born_circuit(9, 10, chow_liu_tree(bars_and_stripes(3, 3), seed=0))
    P = c.num_parameters
    g = torch.Generator().manual_seed(0)
    rows = []
    for dtype in ("complex128", "complex64"):
        for B in (64, 2 * P + 1):
            v = torch.rand(B, P, generator=g, dtype=torch.float64) * 6 - 3
            with torch.no_grad():
                qdiff.probs(c, v, dtype=DTYPES[dtype])
                ms = _best_ms(lambda: qdiff.probs(c, v, dtype=DTYPES[dtype]), repeats)
            rows.append((f"probs, B = {B}, {dtype}", ms))
    v = torch.rand(P, generator=g, dtype=torch.float64) * 6 - 3
    w = torch.rand(2**9, generator=g, dtype=torch.float64)

    def shift_grad() -> None:
        x = v.clone().requires_grad_(True)
        (qdiff.probs(c, x, method="param_shift") * w).sum().backward()

    shift_grad()
    rows.append(("param-shift gradient (558 shifted sets), complex128", _best_ms(shift_grad, repeats)))
    return [f"| born-per-row | {what} | {ms:.1f} |" for what, ms in rows]


CASES = {"pauli-rotation": case_pauli_rotation, "lih-uccsd": case_lih_uccsd, "born-per-row": case_born_per_row}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 20, 22 and fewer repeats (about 1-2 minutes)")
    parser.add_argument("--sizes", type=int, nargs="+", help="qubit counts for target 1 (default 20 22 24)")
    parser.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=list(DTYPES))
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement (default 7, quick 5)")
    parser.add_argument("--batch", type=int, default=1024, help="batch size of target 3")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["gates", "overhead", "batch"])
    parser.add_argument("--system-malloc", action="store_true",
                        help="leave glibc's malloc thresholds alone (see settle_allocator)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "simulator.md")
    parser.add_argument("--case", nargs="+", choices=list(CASES),
                        help="time only these named cases (fastest of --repeats, ms) and print them")
    args = parser.parse_args(argv)
    if args.case:
        if args.threads:
            torch.set_num_threads(args.threads)
        print(f"load average at start: {load()}; torch threads: {torch.get_num_threads()}\n")
        print("| case | measurement | ms |\n|---|---|---|")
        for name in args.case:
            for line in CASES[name](args.repeats or 7):
                print(line, flush=True)
        print(f"\nload average at end: {load()}")
        return 0
    if args.sizes is None:
        args.sizes = [20, 22] if args.quick else [20, 22, 24]
    if args.repeats is None:
        args.repeats = 5 if args.quick else 7
    if args.threads:
        torch.set_num_threads(args.threads)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    load_start = load()
    t0 = time.perf_counter()
    args.malloc_note = settle_allocator(not args.system_malloc)
    gates = overhead = batch = []
    if "gates" not in args.skip:
        gates = bench_gates(args.sizes, args.dtypes, args.repeats, log)
    if "overhead" not in args.skip:
        overhead = bench_overhead([4, 10], max(args.repeats, 5) * 3)
        log(f"  overhead: done at {time.perf_counter() - t0:.0f} s")
    if "batch" not in args.skip:
        batch = bench_batch(args.dtypes, args.batch, 3)
        log(f"  batch: done at {time.perf_counter() - t0:.0f} s")
    text = report(args, gates, overhead, batch, load_start, time.perf_counter() - t0)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    log(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
