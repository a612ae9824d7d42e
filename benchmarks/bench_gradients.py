"""Side-by-side gradient benchmark: qdiff against PennyLane (lightning.qubit, default.qubit) and Qulacs.

Run ``python benchmarks/bench_gradients.py [--quick] [--profile]`` after ``pip install -e .[bench]``.
Peers that fail to install or import are skipped with a printed note.

Workloads (the targets are floors from the project's issue):

A. energy + gradient of a hardware-efficient ansatz (4 layers of ry, rz on every qubit, then a cx
   chain), H = sum Z_i Z_{i+1} (open chain) + sum X_i, complex128. qdiff ``method="adjoint"`` vs
   PennyLane lightning.qubit ``diff_method="adjoint"`` and vs Qulacs ``circuit.backprop``.
   Targets: n=20 qdiff <= 0.7x lightning; n=8 qdiff <= 1.5x Qulacs.
B. one Born-machine training step: 9 qubits, depth 10 (REFERENCES.md), MMD to the uniform
   distribution over the 14 3x3 bars-and-stripes images, then ``loss.backward()``. qdiff adjoint vs
   PennyLane default.qubit ``diff_method="backprop"`` (torch). Target: qdiff <= 1/20 of PennyLane.
C. 256 parameter sets at n=8: per-sample gradient time of one batched call (energy.sum().backward())
   divided by 256, vs one single-sample energy+gradient call. Target: <= 1/10.

Every peer is first checked to compute the same energy (loss) and gradient as qdiff at n=8
(allclose, atol=rtol=1e-8); a mismatch aborts the run before any timing. Timings are medians of
interleaved repeats (qdiff and its peers alternate within each round, so a change in machine load
hits all of them alike) after one warm-up call each.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="workload A at n=8 and 16 only, plus n=20 timed once (no warm-up, one repeat)")
    p.add_argument("--threads", type=int, default=2, help="torch and OpenMP threads (default 2)")
    p.add_argument("--profile", action="store_true",
                   help="after the table, cProfile one qdiff call of each failing workload (top 5 by own time)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                 "gradients.md"),
                   help="where to write the markdown table (default benchmarks/results/gradients.md)")
    return p.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else _parse_args([])
# OpenMP peers (lightning.qubit, Qulacs) read these at import time.
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))
os.environ.setdefault("QULACS_NUM_THREADS", str(ARGS.threads))

import cProfile  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import importlib.metadata  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import qdiff  # noqa: E402

TWO_PI = 2 * np.pi
LAYERS = 4  # hardware-efficient ansatz layers (A, C)
ATOL = RTOL = 1e-8
NOTES: list[str] = []


def note(msg: str) -> None:
    print(f"note: {msg}", flush=True)
    NOTES.append(msg)


# --------------------------------------------------------------------------------------- peers
def _import_peers() -> dict[str, object]:
    peers: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pennylane as qml
            peers["pennylane"] = qml
            try:
                qml.device("lightning.qubit", wires=1)
                peers["lightning"] = True
            except Exception as exc:  # noqa: BLE001 - any failure means: skip the peer
                note(f"PennyLane lightning.qubit unavailable, skipped ({type(exc).__name__}: {exc})")
        except Exception as exc:  # noqa: BLE001
            note(f"PennyLane unavailable, skipped (pip install pennylane pennylane-lightning): "
                 f"{type(exc).__name__}: {exc}")
        try:
            import qulacs
            peers["qulacs"] = qulacs
        except Exception as exc:  # noqa: BLE001
            note(f"Qulacs unavailable, skipped (pip install qulacs): {type(exc).__name__}: {exc}")
    return peers


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ------------------------------------------------------------------------------------- timing
class Timing(dict):
    """Median wall time (s) per name (the dict's values); ``best[name]`` is the fastest repeat."""

    def __init__(self, times: dict[str, list[float]]):
        super().__init__({k: statistics.median(v) for k, v in times.items()})
        self.best = {k: min(v) for k, v in times.items()}


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> Timing:
    """Median (and best) wall time (s) of each function; the functions alternate within every round."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return Timing(times)


def check_close(what: str, ours: np.ndarray | float, theirs: np.ndarray | float) -> None:
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if a.shape != b.shape or not np.allclose(a, b, atol=ATOL, rtol=RTOL):
        err = np.max(np.abs(a - b)) if a.shape == b.shape else f"shapes {a.shape} vs {b.shape}"
        raise AssertionError(f"{what}: qdiff and peer disagree (max abs diff {err}); "
                             "conventions (wire order, rotation sign) or an engine are wrong")
    print(f"  check {what}: max abs diff {np.max(np.abs(a - b)):.1e}  OK", flush=True)


# --------------------------------------------------------------------------- A, C: the ansatz
def hea_circuit(n: int) -> qdiff.Circuit:
    """4 layers of (ry, rz on every qubit, cx chain); parameter k of layer l, qubit q = 2(l n + q) + {0,1}."""
    theta = qdiff.ParameterVector("theta", 2 * n * LAYERS)
    c = qdiff.Circuit(n)
    k = 0
    for _ in range(LAYERS):
        for q in range(n):
            c.ry(theta[k], q)
            c.rz(theta[k + 1], q)
            k += 2
        for q in range(n - 1):
            c.cx(q, q + 1)
    return c


def hea_hamiltonian(n: int) -> qdiff.PauliSum:
    h = qdiff.Z(0) @ qdiff.Z(1)
    for i in range(1, n - 1):
        h = h + qdiff.Z(i) @ qdiff.Z(i + 1)
    for i in range(n):
        h = h + qdiff.X(i)
    return h


class QdiffEnergy:
    """Energy + gradient through qdiff's adjoint engine."""

    def __init__(self, n: int):
        self.circuit, self.h = hea_circuit(n), hea_hamiltonian(n)

    def __call__(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        e = qdiff.expval(self.circuit, self.h, x, method="adjoint")
        e.sum().backward()
        return e.detach().numpy(), x.grad.numpy()


class LightningEnergy:
    """PennyLane lightning.qubit, diff_method="adjoint", autograd (NumPy) interface.

    The autograd interface is the peer's fastest path here: in a trial at n=8 it was as fast as
    the torch interface and exact, while the torch interface lost ~1e-8 in the energy.
    ``autograd.value_and_grad`` returns energy and gradient from one QNode evaluation.
    """

    def __init__(self, qml: object, n: int):
        import autograd
        from pennylane import numpy as pnp

        self.pnp = pnp
        dev = qml.device("lightning.qubit", wires=n)
        obs = [qml.Z(i) @ qml.Z(i + 1) for i in range(n - 1)] + [qml.X(i) for i in range(n)]
        h = qml.Hamiltonian([1.0] * len(obs), obs)

        def circuit(w):  # type: ignore[no-untyped-def]
            k = 0
            for _ in range(LAYERS):
                for q in range(n):
                    qml.RY(w[k], wires=q)
                    qml.RZ(w[k + 1], wires=q)
                    k += 2
                for q in range(n - 1):
                    qml.CNOT(wires=[q, q + 1])
            return qml.expval(h)

        self.qnode = qml.QNode(circuit, dev, interface="autograd", diff_method="adjoint")
        self.value_and_grad = autograd.value_and_grad(self.qnode)

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        e, g = self.value_and_grad(self.pnp.array(values, requires_grad=True))
        return float(e), np.asarray(g)


class QulacsEnergy:
    """Qulacs ParametricQuantumCircuit + Observable; the gradient is ``circuit.backprop(obs)``.

    Qulacs' parametric RY/RZ(a) are exp(+i a P/2), so angles enter negated and the gradient is
    negated back (a sign flip, no cost). Timed: set the parameters and call ``backprop`` (which
    runs the forward pass inside); the energy is a separate forward pass, timed separately. The
    energy sums the terms' ``get_expectation_value``: in qulacs 0.6.14 ``Observable.get_expectation_value``
    took a quantized 8-16 ms even at n=8 (vs ~40 us for the per-term sum, same value).
    """

    def __init__(self, qulacs: object, n: int):
        self.n = n
        c = qulacs.ParametricQuantumCircuit(n)
        for _ in range(LAYERS):
            for q in range(n):
                c.add_parametric_RY_gate(q, 0.0)
                c.add_parametric_RZ_gate(q, 0.0)
            for q in range(n - 1):
                c.add_CNOT_gate(q, q + 1)
        obs = qulacs.Observable(n)
        for i in range(n - 1):
            obs.add_operator(1.0, f"Z {i} Z {i + 1}")
        for i in range(n):
            obs.add_operator(1.0, f"X {i}")
        self.circuit, self.obs, self.QuantumState = c, obs, qulacs.QuantumState
        self.terms = [obs.get_term(i) for i in range(obs.get_term_count())]

    def _set(self, values: np.ndarray) -> None:
        for k, v in enumerate(values):
            self.circuit.set_parameter(k, -float(v))

    def gradient(self, values: np.ndarray) -> np.ndarray:
        self._set(values)
        return -np.asarray(self.circuit.backprop(self.obs))

    def energy(self, values: np.ndarray) -> float:
        self._set(values)
        state = self.QuantumState(self.n)
        self.circuit.update_quantum_state(state)
        return float(sum(t.get_expectation_value(state) for t in self.terms).real)

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        return self.energy(values), self.gradient(values)


# ----------------------------------------------------------------------- B: the Born machine
BAS_ROWS = BAS_COLS = 3
SIGMAS = (0.5, 1.0, 2.0, 4.0)
QCBM_DEPTH = 10


def bars_and_stripes(rows: int, cols: int) -> list[int]:
    """Valid images as integers: pixel k (row-major) is bit k (qubit k, little-endian)."""
    images = set()
    for mask in range(2**rows):  # bars: every row constant
        images.add(sum(1 << (r * cols + c) for r in range(rows) if mask >> r & 1 for c in range(cols)))
    for mask in range(2**cols):  # stripes: every column constant
        images.add(sum(1 << (r * cols + c) for c in range(cols) if mask >> c & 1 for r in range(rows)))
    return sorted(images)


def mmd_kernel(n: int) -> torch.Tensor:
    """K(x, y) = mean_i exp(-d_H(x, y) / (2 sigma_i)) on all 2**n bitstrings, float64."""
    idx = np.arange(2**n)
    x = idx[:, None] ^ idx[None, :]
    hamming = np.zeros_like(x)
    for b in range(n):
        hamming += (x >> b) & 1
    k = np.mean([np.exp(-hamming / (2 * s)) for s in SIGMAS], axis=0)
    return torch.tensor(k, dtype=torch.float64)


def qcbm_layout(n: int, depth: int) -> list[tuple[str, object]]:
    """Rotation and entangling layers: ("rot", gate names) or ("ent", edges)."""
    edges = [(q, q + 1) for q in range(n - 1)]  # a line 0-1-...-8 (a spanning tree)
    layers: list[tuple[str, object]] = [("rot", ("rx", "rz"))]
    for _ in range(1, depth):
        layers += [("ent", edges), ("rot", ("rz", "rx", "rz"))]
    layers += [("ent", edges), ("rot", ("rz", "rx"))]
    return layers


def qcbm_circuit(n: int, depth: int) -> qdiff.Circuit:
    layout = qcbm_layout(n, depth)
    num = sum(len(g) * n for kind, g in layout if kind == "rot")
    theta = qdiff.ParameterVector("theta", num)
    c = qdiff.Circuit(n)
    k = 0
    for kind, data in layout:
        if kind == "ent":
            for a, b in data:
                c.cx(a, b)
        else:
            for q in range(n):
                for g in data:
                    getattr(c, g)(theta[k], q)
                    k += 1
    return c


class QdiffBorn:
    def __init__(self, n: int, depth: int, target: torch.Tensor, kernel: torch.Tensor):
        self.circuit, self.target, self.kernel = qcbm_circuit(n, depth), target, kernel

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        d = qdiff.probs(self.circuit, x, method="adjoint") - self.target
        loss = d @ self.kernel @ d
        loss.backward()
        return loss.item(), x.grad.numpy()


class PennyLaneBorn:
    """default.qubit, diff_method="backprop", torch interface; probs read little-endian."""

    def __init__(self, qml: object, n: int, depth: int, target: torch.Tensor, kernel: torch.Tensor):
        layout = qcbm_layout(n, depth)
        gates = {"rx": qml.RX, "rz": qml.RZ}

        def circuit(w):  # type: ignore[no-untyped-def]
            k = 0
            for kind, data in layout:
                if kind == "ent":
                    for a, b in data:
                        qml.CNOT(wires=[a, b])
                else:
                    for q in range(n):
                        for g in data:
                            gates[g](w[k], wires=q)
                            k += 1
            # PennyLane's probs are big-endian in the listed wires: listing them in reverse makes
            # the index little-endian, like qdiff's
            return qml.probs(wires=list(reversed(range(n))))

        self.qnode = qml.QNode(circuit, qml.device("default.qubit", wires=n), interface="torch",
                               diff_method="backprop")
        self.target, self.kernel = target, kernel

    def __call__(self, values: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        d = self.qnode(x) - self.target
        loss = d @ self.kernel @ d
        loss.backward()
        return loss.item(), x.grad.numpy()


# --------------------------------------------------------------------------------- the table
@dataclass
class Row:
    workload: str
    n: int
    ours: float
    peer_name: str
    peer: float | None
    target: float | None = None  # ratio floor: ours / peer <= target
    target_text: str = "—"
    reps: str = ""
    best_ratio: float | None = None  # ratio of the fastest repeats, for reading noisy runs

    @property
    def ratio(self) -> float | None:
        return None if self.peer is None else self.ours / self.peer

    @property
    def status(self) -> str:
        if self.peer is None:
            return "SKIP"
        if self.target is None:
            return "info"
        return "PASS" if self.ratio <= self.target else "FAIL"


def fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"


def table(rows: list[Row]) -> str:
    head = ("| workload | n | qdiff time | peer | peer time | ratio qdiff/peer | target | result | repeats "
            "| ratio of best repeats |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        ratio = "—" if r.ratio is None else f"{r.ratio:.3f}"
        best = "—" if r.best_ratio is None or r.peer is None else f"{r.best_ratio:.3f}"
        lines.append(f"| {r.workload} | {r.n} | {fmt_time(r.ours)} | {r.peer_name} | {fmt_time(r.peer)} | "
                     f"{ratio} | {r.target_text} | {r.status} | {r.reps} | {best} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the workloads
def workload_a(peers: dict[str, object], quick: bool, rows: list[Row], profiles: dict[str, Callable]) -> None:
    print("\n== A: hardware-efficient ansatz, energy + gradient ==", flush=True)
    sizes = [8, 16, 20] if quick else [8, 12, 16, 20]
    rng = np.random.default_rng(1234)
    for n in sizes:
        values = rng.uniform(0, TWO_PI, 2 * n * LAYERS)
        ours = QdiffEnergy(n)
        fns: dict[str, Callable[[], object]] = {"qdiff": lambda: ours(values)}
        lightning = LightningEnergy(peers["pennylane"], n) if "lightning" in peers else None
        qulacs = QulacsEnergy(peers["qulacs"], n) if "qulacs" in peers else None
        if lightning is not None:
            fns["lightning"] = lambda: lightning(values)
        if qulacs is not None:
            fns["qulacs"] = lambda: qulacs.gradient(values)
            fns["qulacs_energy"] = lambda: qulacs.energy(values)
        if n == 8:
            e, g = ours(values)
            if lightning is not None:
                le, lg = lightning(values)
                check_close("A n=8 energy, qdiff vs lightning", e, le)
                check_close("A n=8 gradient, qdiff vs lightning", g, lg)
            if qulacs is not None:
                qe, qg = qulacs(values)
                check_close("A n=8 energy, qdiff vs Qulacs", e, qe)
                check_close("A n=8 gradient, qdiff vs Qulacs", g, qg)
        if n == 20 and quick:
            warmup, reps = 0, 1
        else:
            warmup, reps = 1, {8: 21, 12: 9, 16: 5, 20: 3}[n]
        t = interleaved(fns, reps, warmup)
        print(f"  n={n}: " + ", ".join(f"{k} {fmt_time(v)} (best {fmt_time(t.best[k])})" for k, v in t.items())
              + f"; load {os.getloadavg()[0]:.2f}", flush=True)
        rep = f"{reps} (+{warmup} warm-up)"
        best = t.best
        target = 0.7 if n == 20 else None
        rows.append(Row("A energy+grad", n, t["qdiff"], "lightning.qubit adjoint", t.get("lightning"), target,
                        "≤ 0.7" if target else "—", rep,
                        best["qdiff"] / best["lightning"] if "lightning" in best else None))
        target = 1.5 if n == 8 else None
        rows.append(Row("A energy+grad", n, t["qdiff"], "Qulacs backprop", t.get("qulacs"), target,
                        "≤ 1.5" if target else "—", rep,
                        best["qdiff"] / best["qulacs"] if "qulacs" in best else None))
        if qulacs is not None:
            rows.append(Row("A energy+grad", n, t["qdiff"], "Qulacs backprop + energy",
                            t["qulacs"] + t["qulacs_energy"], None, "—", rep,
                            best["qdiff"] / (best["qulacs"] + best["qulacs_energy"])))
        profiles[f"A n={n}"] = (lambda o=ours, v=values: o(v))


def workload_b(peers: dict[str, object], rows: list[Row], profiles: dict[str, Callable]) -> None:
    print("\n== B: Born machine step (9 qubits, depth 10, MMD) ==", flush=True)
    n = BAS_ROWS * BAS_COLS
    target = torch.zeros(2**n, dtype=torch.float64)
    images = bars_and_stripes(BAS_ROWS, BAS_COLS)
    assert len(images) == 14
    target[images] = 1 / len(images)
    kernel = mmd_kernel(n)
    ours = QdiffBorn(n, QCBM_DEPTH, target, kernel)
    P = ours.circuit.num_parameters
    assert P == (3 * QCBM_DEPTH + 1) * n, P
    values = np.random.default_rng(99).uniform(0, TWO_PI, P)
    fns: dict[str, Callable[[], object]] = {"qdiff": lambda: ours(values)}
    pl = None
    if "pennylane" in peers:
        pl = PennyLaneBorn(peers["pennylane"], n, QCBM_DEPTH, target, kernel)
        fns["pennylane"] = lambda: pl(values)
        loss, grad = ours(values)
        pl_loss, pl_grad = pl(values)
        check_close("B loss, qdiff vs default.qubit", loss, pl_loss)
        check_close("B gradient, qdiff vs default.qubit", grad, pl_grad)
    reps = 9
    t = interleaved(fns, reps)
    print("  " + ", ".join(f"{k} {fmt_time(v)} (best {fmt_time(t.best[k])})" for k, v in t.items())
          + f"; load {os.getloadavg()[0]:.2f}", flush=True)
    rows.append(Row("B Born step (MMD)", n, t["qdiff"], "default.qubit backprop (torch)", t.get("pennylane"),
                    1 / 20, "≤ 0.05", f"{reps} (+1 warm-up)",
                    t.best["qdiff"] / t.best["pennylane"] if "pennylane" in t.best else None))
    profiles["B"] = lambda: ours(values)


def workload_c(peers: dict[str, object], rows: list[Row], profiles: dict[str, Callable]) -> None:
    print("\n== C: 256 parameter sets at n=8, per-sample gradients ==", flush=True)
    n, batch = 8, 256
    ours = QdiffEnergy(n)
    rng = np.random.default_rng(7)
    values = rng.uniform(0, TWO_PI, (batch, 2 * n * LAYERS))
    e_b, g_b = ours(values)
    loop = [ours(values[i]) for i in range(batch)]
    check_close("C batched vs 256 single calls (energies)", e_b, np.array([float(e) for e, _ in loop]))
    check_close("C batched vs 256 single calls (gradients)", g_b, np.stack([g for _, g in loop]))
    fns: dict[str, Callable[[], object]] = {
        "batched": lambda: ours(values),
        "single": lambda: ours(values[0]),
    }
    reps = 15
    t = interleaved(fns, reps)
    per_sample = t["batched"] / batch
    print(f"  batched {fmt_time(t['batched'])} ({fmt_time(per_sample)} per sample), single {fmt_time(t['single'])}; "
          f"best: batched {fmt_time(t.best['batched'])}, single {fmt_time(t.best['single'])}", flush=True)
    rows.append(Row("C per-sample grad (batch 256 / 256)", n, per_sample, "qdiff single call", t["single"], 0.1,
                    "≤ 0.1", f"{reps} (+1 warm-up)", t.best["batched"] / batch / t.best["single"]))
    # references: loops of 256 single calls, timed once each after the warm-up above
    loops: dict[str, Callable[[], object]] = {"qdiff loop": lambda: [ours(v) for v in values]}
    if "qulacs" in peers:
        q = QulacsEnergy(peers["qulacs"], n)
        check_close("C Qulacs gradient of sample 0", g_b[0], q.gradient(values[0]))
        loops["qulacs loop"] = lambda: [q.gradient(v) for v in values]
    tl = interleaved(loops, repeats=1, warmup=0)
    print("  " + ", ".join(f"{k} {fmt_time(v)} total" for k, v in tl.items()), flush=True)
    rows.append(Row("C per-sample grad (batch 256 / 256)", n, per_sample, "qdiff loop of 256, per call",
                    tl["qdiff loop"] / batch, None, "—", "1"))
    rows.append(Row("C per-sample grad (batch 256 / 256)", n, per_sample, "Qulacs backprop loop of 256, per call",
                    tl["qulacs loop"] / batch if "qulacs loop" in tl else None, None, "—", "1"))
    profiles["C"] = lambda: ours(values)


# ------------------------------------------------------------------------------------ driver
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def profile_top(fn: Callable[[], object], top: int = 5) -> str:
    fn()  # warm caches
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def git_state() -> str:
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "qdiff"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes in qdiff/" if dirty else "")


def main() -> int:
    torch.set_num_threads(ARGS.threads)
    peers = _import_peers()
    load0 = os.getloadavg()
    versions = {
        "python": platform.python_version(), "torch": torch.__version__, "qdiff": qdiff.__version__,
        "pennylane": _version("pennylane"), "pennylane-lightning": _version("pennylane_lightning"),
        "qulacs": _version("qulacs"), "numpy": np.__version__,
    }
    header = [
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}, mode: "
        f"{'--quick' if ARGS.quick else 'full'}",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores visible; torch threads "
        f"{torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
        "- dtype: complex128 states, float64 parameters (all engines and peers)",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- qdiff source: git {git_state()}",
        f"- load average at start: {load0[0]:.2f} (1 min)",
    ]
    print("\n".join(header), flush=True)
    rows: list[Row] = []
    profiles: dict[str, Callable] = {}
    t_start = time.perf_counter()
    workload_a(peers, ARGS.quick, rows, profiles)
    workload_b(peers, rows, profiles)
    workload_c(peers, rows, profiles)
    load1 = os.getloadavg()
    header.append(f"- load average at end: {load1[0]:.2f} (1 min); wall time of the run "
                  f"{time.perf_counter() - t_start:.0f} s")
    text = table(rows)
    print("\n" + text, flush=True)
    explain = [
        "Times are medians of interleaved repeats (qdiff and peers alternate every round) after one",
        "warm-up call, except rows marked `+0 warm-up`. Ratio = qdiff time / peer time; a target is the",
        "largest ratio that passes; PASS/FAIL is decided on the medians. The last column divides the",
        "fastest repeats instead: on a shared machine it is the better guide to what the code can do.",
        "qdiff uses `method=\"adjoint\"` everywhere.",
        "",
        "- A: PennyLane lightning.qubit, `diff_method=\"adjoint\"`, autograd (NumPy) interface with",
        "  `autograd.value_and_grad` (its fastest exact path in a trial; the torch interface was as fast",
        "  and lost ~1e-8 in the energy). Qulacs row = `set_parameter` for every angle + `backprop(observable)`",
        "  (gradient only; it runs the forward pass inside), the strictest comparison for qdiff;",
        "  the `+ energy` row adds a separate forward pass and the sum of the terms' `get_expectation_value`",
        "  (`Observable.get_expectation_value` took a quantized 8-16 ms at n = 8 in qulacs 0.6.14).",
        "- B: PennyLane default.qubit, `diff_method=\"backprop\"`, torch interface; entangler: a line",
        "  0-1-...-8; MMD with sigmas 0.5, 1, 2, 4 on Hamming distance, K = mean of the Gaussians.",
        "- C: one batched qdiff call on values of shape (256, 64), then `energy.sum().backward()`; the",
        "  time divided by 256 against one single-sample call; loops are timed once.",
        "- Correctness: before timing, qdiff and each peer agree to atol = rtol = 1e-8 on the energy",
        "  (loss) and the full gradient at n = 8 (A), for the Born machine (B), and batched vs 256",
        "  single calls (C).",
    ]
    if NOTES:
        explain += ["", "Notes:"] + [f"- {m}" for m in NOTES]
    os.makedirs(os.path.dirname(ARGS.out), exist_ok=True)
    with open(ARGS.out, "w") as f:
        f.write("# Gradient benchmark: qdiff vs PennyLane and Qulacs\n\n"
                "Produced by `python benchmarks/bench_gradients.py"
                f"{' --quick' if ARGS.quick else ''}`.\n\n")
        f.write("\n".join(header) + "\n\n" + text + "\n\n" + "\n".join(explain) + "\n")
    print(f"\nwrote {ARGS.out}", flush=True)
    failing = [r for r in rows if r.status == "FAIL"]
    print("targets: " + ", ".join(f"{r.workload} n={r.n} vs {r.peer_name}: {r.status}"
                                  for r in rows if r.target is not None), flush=True)
    if ARGS.profile:
        seen = set()
        for r in failing:
            key = "B" if r.workload.startswith("B") else "C" if r.workload.startswith("C") else f"A n={r.n}"
            if key in seen or key not in profiles:
                continue
            seen.add(key)
            print(f"\n== cProfile of one qdiff call, {key} (top 5 by own time) ==")
            print(profile_top(profiles[key]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
