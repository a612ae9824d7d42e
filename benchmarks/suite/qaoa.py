"""QAOA MaxCut energy + gradient, n = 12..20, p = 4, on a random 3-regular graph (seeded).

The circuit is qdiff's ``qaoa_circuit`` written as data: h on every qubit, then per layer
rzz(-gamma_l) on every edge and rx(2 beta_l) on every qubit; 2p shared parameters. qdiff
``method="adjoint"`` against lightning.qubit adjoint, Qulacs backprop (one parameter per gate,
summed by the chain rule), default.qubit backprop and qiskit-aer parameter shift (n = 12 only).
"""

from __future__ import annotations

import numpy as np

from . import impl_qdiff
from .circuits import maxcut_observable, qaoa, regular_graph_edges
from .compare import compare
from .context import Context
from .hea import cross_check, energy_peers, grad_call
from .report import Row

P = 4


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes_for("qaoa", list(range(12, 21, 2)), [12, 16])
    rows: list[Row] = []
    rng = np.random.default_rng(4321)
    for i, n in enumerate(sizes):
        ctx.log(f"== qaoa n={n} p={P} ==")
        edges = regular_graph_edges(n, 3, seed=n)
        spec, obs = qaoa(n, P, edges), maxcut_observable(n, edges)
        values = rng.uniform(0, np.pi, spec.num_parameters)
        ours = impl_qdiff.Energy(spec, obs)
        peers, absent = energy_peers(ctx, spec, obs, slow_max_n=12)
        if i == 0:
            cross_check(ctx, f"qaoa n={n}", ours, peers, values)
        grad = {"qdiff": lambda: ours(values)} | {k: grad_call(k, p, values) for k, p in peers.items()}
        rows += compare(ctx, "qaoa-grad", n, f"p={P}, 3-regular, c128", grad, skipped=tuple(absent))
    return rows
