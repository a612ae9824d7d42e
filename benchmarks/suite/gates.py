"""One gate on a ``2**n`` state, n = 10..24, against the bandwidth floor (one copy of the state).

Each qdiff time is ``qdiff.state`` of a one-gate circuit on a given initial state (the public path,
validation and plan lookup included, which dominates at small n), timed in turn with
``psi.clone()`` and with Qulacs applying the same gate in place (``gate.update_quantum_state``,
complex128 only). The ``x copy`` column is the gate time over the copy time. No target here: the
per-kernel floors (dense <= 3x, diagonal/permutation <= 2x at n >= 20) are bench_simulator.py's.
"""

from __future__ import annotations

import torch

import qdiff

from . import impl_qdiff
from .context import Context
from .report import Row
from .timing import Stats

DTYPES = {"c128": torch.complex128, "c64": torch.complex64}
ANGLE = 0.37


def cases(n: int) -> list[tuple[str, tuple[int, ...]]]:
    """Dense (h, rx), diagonal (rz, rzz) and permutation (cx) gates, near and far qubits."""
    mid = n // 2
    return [("h", (0,)), ("rx", (mid,)), ("rz", (mid,)), ("cx", (mid, mid + 1)), ("rzz", (0, n - 1))]


def _initial(n: int, dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(n)
    real = torch.empty((), dtype=dtype).real.dtype
    psi = torch.complex(torch.randn(2**n, dtype=real, generator=gen), torch.randn(2**n, dtype=real, generator=gen))
    return (psi / torch.linalg.vector_norm(psi)).to(dtype)


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes_for("gate", list(range(10, 25, 2)), [10, 16, 20])
    dtypes = ["c128"] if ctx.quick else ["c128", "c64"]
    qulacs = ctx.peers.load("qulacs")
    rows: list[Row] = []
    for dname in dtypes:
        dtype = DTYPES[dname]
        real = torch.empty((), dtype=dtype).real.dtype
        for n in sizes:
            ctx.log(f"== gates n={n} {dname} ==")
            psi = _initial(n, dtype)
            q_state = None
            if qulacs is not None and dname == "c128":
                from .impl_qulacs import gate as qulacs_gate, state as qulacs_state
                q_state = qulacs_state(qulacs, psi.numpy())
            copies: list[Stats] = []
            for name, qubits in cases(n):
                c = impl_qdiff.one_gate(n, name, qubits)
                values = torch.full((c.num_parameters,), ANGLE, dtype=real) if c.num_parameters else None
                fns = {"qdiff": lambda c=c, v=values: qdiff.state(c, v, initial_state=psi, dtype=dtype),
                       "copy": lambda: psi.clone()}
                peer = "—"
                if q_state is not None:
                    g = qulacs_gate(qulacs, name, qubits, ANGLE)
                    if n == sizes[0]:
                        fresh = qulacs_state(qulacs, psi.numpy())
                        g.update_quantum_state(fresh)
                        ours = fns["qdiff"]().numpy()
                        ctx.check(f"gate {name}{list(qubits)} n={n}, state, qdiff vs Qulacs", ours.real,
                                  fresh.get_vector().real)
                        ctx.check(f"gate {name}{list(qubits)} n={n}, state (imag), qdiff vs Qulacs", ours.imag,
                                  fresh.get_vector().imag)
                    fns["Qulacs (in place)"] = lambda g=g: g.update_quantum_state(q_state)
                    peer = "Qulacs (in place)"
                elif dname == "c128":
                    peer = "Qulacs (in place)"
                stats = ctx.time(fns, budget_s=min(ctx.budget_s, 1.0), max_repeats=41 if n <= 20 else 11)
                copies.append(stats["copy"])
                rows.append(Row("gate", n, f"{name}{list(qubits)} {dname}", stats["qdiff"], peer, stats.get(peer),
                                floor=stats["copy"]))
            copy = min(copies, key=lambda s: s.median)
            rows.insert(len(rows) - len(copies), Row("copy", n, f"psi.clone() {dname} (floor)", copy, "—", None,
                                                     note=f"{2**n * psi.element_size() / 2**20:.3g} MiB state"))
            ctx.log(f"  copy {copy.median * 1e3:.3f} ms; gates x copy: " + ", ".join(
                f"{r.case.split()[0]} {r.floor_multiple:.2f}" for r in rows[-len(copies):]))
    return rows
