"""Peak memory of an adjoint energy + gradient versus depth (n = 20, depth up to 100).

Each point runs in a fresh Python process (``python -m benchmarks.suite.memory N DEPTH``) that
builds the hardware-efficient circuit of ``DEPTH`` layers and H = sum ZZ + sum X, records its
resident set size (RSS) after one call on a 2-qubit circuit (which loads what qdiff imports
lazily), resets the kernel's high-water mark (``/proc/self/clear_refs``), runs
``qdiff.expval(..., method="adjoint")`` and ``backward()`` once, and reads the high-water mark
(``VmHWM``). Large blocks are served by ``mmap`` (``MALLOC_MMAP_THRESHOLD_=65536``) so freed states
leave the RSS at once: the peak minus the starting RSS is the most memory live at one time
(torch's CPU allocations are invisible to tracemalloc, so RSS it is).

The probe makes two calls: the first builds and caches qdiff's compiled plan (what a user's
first step costs; the target is judged on it), the second reuses it. The bound is ``4 state
vectors + constant``, the constant being the same call's figure at the smallest width past
:data:`qdiff.sim.tape.TAPE_MAX_QUBITS` (n = 15 since session 8, 12 before; same depth: plan,
operators, angles and Python objects that do not grow with 2**n, plus a few 0.5 MiB states), so
the reference takes the same engine path as n = 20, not the numba tape of small states, whose
fixed costs are smaller. Beside it, an info row fits
``peak = a * state + c`` on n = 19 and 20 at the same depth: ``a`` is the number of state vectors
proper (a two-point fit, so a first call's one-time allocations can tilt it; the judged row does
not depend on it). The child is killed above a memory cap (4 GiB or a quarter of the machine) or a
time limit, and then reads as a lower bound.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from qdiff.sim.tape import TAPE_MAX_QUBITS

from .context import Context
from .report import Row
from .timing import Stats

N, STATES = 20, 4
SMALL_N = TAPE_MAX_QUBITS + 1
ROOT = Path(__file__).resolve().parents[2]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def probe(n: int, depth: int, threads: int) -> dict[str, float]:
    """Run one adjoint energy + gradient and return RSS figures in bytes (this process)."""
    import torch

    import qdiff  # noqa: F401

    from .circuits import hea, hea_hamiltonian
    from .impl_qdiff import circuit, pauli_sum

    torch.set_num_threads(threads)
    tiny = torch.zeros(4, dtype=torch.float64, requires_grad=True)  # load what qdiff imports lazily
    qdiff.expval(circuit(hea(2, 1)), pauli_sum(hea_hamiltonian(2)), tiny, method="adjoint").backward()
    spec = hea(n, depth)
    c, h = circuit(spec), pauli_sum(hea_hamiltonian(n))
    x = torch.rand(spec.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                   requires_grad=True)
    out: dict[str, float] = {"state": 16.0 * 2**n}
    for call in ("first", "again"):  # first: plan built and cached; again: the cached plan reused
        x.grad = None
        gc.collect()
        out[f"{call}_baseline"] = _status_kib("VmRSS") * 1024.0
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        t0 = time.perf_counter()
        qdiff.expval(c, h, x, method="adjoint").backward()
        out[f"{call}_seconds"] = time.perf_counter() - t0
        out[f"{call}_peak"] = _status_kib("VmHWM") * 1024.0
        assert x.grad is not None and x.grad.shape == (spec.num_parameters,)
    gc.collect()
    out["retained"] = _status_kib("VmRSS") * 1024.0 - out["first_baseline"]
    return out

def _rss_bytes(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        pass
    return 0.0


def measure(n: int, depth: int, threads: int, timeout_s: float, cap_bytes: float) -> dict[str, float | str]:
    """:func:`probe` in a fresh interpreter (so nothing freed earlier hides the peak).

    The child's RSS is polled; above ``cap_bytes`` or after ``timeout_s`` it is killed (so a
    runaway footprint cannot take the shared machine down) and the result holds ``killed`` (why)
    and ``seen`` (the largest RSS observed, a lower bound of its peak).
    """
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS=str(threads))
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.suite.memory", str(n), str(depth), str(threads)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, t0, killed = 0.0, time.perf_counter(), ""
    while child.poll() is None:
        seen = max(seen, _rss_bytes(child.pid))
        if seen > cap_bytes:
            killed = f"RSS above the cap of {cap_bytes / 2**30:.1f} GiB"
        elif time.perf_counter() - t0 > timeout_s:
            killed = f"still running after {timeout_s:.0f} s"
        if killed:
            child.kill()
            child.communicate()
            return {"killed": killed, "seen": seen, "seconds": time.perf_counter() - t0}
        time.sleep(0.1)
    stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"memory probe n={n} depth={depth} failed:\n{stderr[-2000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _cap_bytes() -> float:
    """At most 4 GiB or a quarter of the machine's memory, whichever is less."""
    try:
        with open("/proc/meminfo") as f:
            total = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) * 1024.0
    except (OSError, StopIteration, ValueError):
        total = 16.0 * 2**30
    return min(4.0 * 2**30, total / 4)


def _stats(value: float) -> Stats:
    return Stats(value, value, value, 1, 0)


def run(ctx: Context) -> list[Row]:
    if not os.path.exists("/proc/self/clear_refs"):
        ctx.note("adjoint memory skipped: needs Linux /proc/self/clear_refs to reset the peak RSS")
        return []
    depths = ctx.sizes_for("memory", [1, 10, 25, 50, 100], [10, 100])
    n = ctx.sizes.get("memory-n", [N])[0]
    timeout_s, cap = (240.0 if ctx.quick else 600.0), _cap_bytes()
    rows: list[Row] = []
    mib = 2.0**20
    for depth in depths:
        ctx.log(f"== adjoint memory n={n - 1}, {n} depth={depth} ==")
        probes = {m: measure(m, depth, ctx.threads, timeout_s, cap) for m in (SMALL_N, n - 1, n)}
        stopped = {m: p for m, p in probes.items() if "killed" in p}
        if stopped:
            for m, p in stopped.items():
                ctx.note(f"adjoint memory depth {depth}: the n={m} probe was stopped ({p['killed']}); "
                         f"at least {p['seen'] / mib:.0f} MiB seen")
            continue
        small, prev, big = probes[SMALL_N], probes[n - 1], probes[n]
        state, state_prev = 16.0 * 2**n, 16.0 * 2 ** (n - 1)
        for call in ("first", "again"):
            extra = big[f"{call}_peak"] - big[f"{call}_baseline"]
            extra_prev = prev[f"{call}_peak"] - prev[f"{call}_baseline"]
            slope = (extra - extra_prev) / (state - state_prev)  # state vectors per state vector
            constant = extra - slope * state
            small_extra = small[f"{call}_peak"] - small[f"{call}_baseline"]
            what = "first call (plan built)" if call == "first" else "second call (plan cached)"
            target = 1.0 if call == "first" and depth == max(depths) else None
            bound = STATES * state + small_extra
            ctx.log(f"  {what}: extra peak {extra / mib:.1f} MiB = {extra / state:.2f} states at n={n} "
                    f"(bound {bound / mib:.1f} MiB), {extra_prev / mib:.1f} MiB at n={n - 1}: fit {slope:.2f} "
                    f"states + {constant / mib:.1f} MiB; {big[f'{call}_seconds']:.1f} s")
            note = (f"peak over the start {extra / mib:.1f} MiB at n={n}, {extra_prev / mib:.1f} MiB at n={n - 1}, "
                    f"{small_extra / mib:.2f} MiB at n={SMALL_N}; state {state / mib:.0f} MiB; "
                    f"{big[f'{call}_seconds']:.1f} s; retained after the calls {big['retained'] / mib:.0f} MiB")
            rows.append(Row("adjoint-memory", n, f"depth {depth}, {what}: {extra / state:.2f} states in all",
                            _stats(extra / mib), f"{STATES} states + constant (n={SMALL_N} peak)",
                            _stats(bound / mib), target, unit="MiB", note=note))
            rows.append(Row("adjoint-memory", n, f"depth {depth}, {what}: fit over n={n - 1}, {n}: "
                            f"{slope:.2f} states + {constant / mib:.1f} MiB", _stats(slope),
                            f"{STATES} states", _stats(float(STATES)), None, unit="states", note=note))
    return rows


if __name__ == "__main__":
    print(json.dumps(probe(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
