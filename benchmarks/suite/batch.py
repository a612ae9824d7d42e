"""A batch of 256 parameter sets, energy + gradient of the 4-layer hardware-efficient ansatz,
n = 8..12, complex128.

qdiff: one call on values ``(256, P)``, then ``energy.sum().backward()`` (per-sample gradients
from the batch dimension), against a loop of 256 single-sample qdiff calls (target: the batch at
least 10x the loop's throughput, i.e. ratio <= 1/10 at n = 8). For reference: a loop of 256 Qulacs
``backprop`` calls. qiskit-aer is left out here: parameter shift for 256 sets is 256 x (2P + 1) =
33,024 bindings at n = 8, which took minutes in one call (the Born step shows its path).
"""

from __future__ import annotations

import numpy as np

from . import impl_qdiff
from .circuits import hea, hea_hamiltonian
from .compare import compare
from .context import Context
from .report import Row

BATCH = 256
LAYERS = 4
LOOP, QULACS = "qdiff loop of 256 single calls", "Qulacs backprop, loop of 256"


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes_for("batch", [8, 10, 12], [8, 10])
    rows: list[Row] = []
    rng = np.random.default_rng(7)
    for n in sizes:
        ctx.log(f"== batch {BATCH} n={n} ==")
        spec, obs = hea(n, LAYERS), hea_hamiltonian(n)
        values = rng.uniform(0, 2 * np.pi, (BATCH, spec.num_parameters))
        ours = impl_qdiff.Energy(spec, obs)
        e, g = ours(values)
        singles = [ours(v) for v in values]
        ctx.check(f"batch n={n}, energies, batched vs 256 single calls", e, np.array([float(s[0]) for s in singles]))
        ctx.check(f"batch n={n}, gradients, batched vs 256 single calls", g, np.stack([s[1] for s in singles]))
        fns = {"qdiff": lambda: ours(values), LOOP: lambda: [ours(v) for v in values]}
        absent: list[str] = []
        qulacs = ctx.peers.load("qulacs")
        if qulacs is not None:
            from .impl_qulacs import QulacsEnergy
            q = QulacsEnergy(qulacs, spec, obs)
            ctx.check(f"batch n={n}, gradient of sample 0, qdiff vs Qulacs", g[0], q.gradient(values[0]))
            fns[QULACS] = lambda: [q.gradient(v) for v in values]
        else:
            absent.append(QULACS)
        rows += compare(ctx, "batch-256", n, f"{LAYERS} layers, energy+grad, c128", fns, {LOOP: 0.1} if n == 8 else {},
                        tuple(absent), min_repeats=3 if n == 8 or not ctx.quick else 1, max_repeats=9)
    return rows
