"""One Born-machine training step: 9 qubits, depth 10 (279 angles, line entangler), MMD to the
uniform distribution over the 14 3x3 bars-and-stripes images (sigma = 0.5, 1, 2, 4 on Hamming
distance), then ``loss.backward()``.

qdiff ``method="adjoint"`` (and ``"backprop"``, for reference) against PennyLane default.qubit
backprop (torch) and qiskit-aer parameter shift with all 559 bindings in one call.
Targets: at most 1/30 of default.qubit, at most 1/100 of qiskit-aer.
"""

from __future__ import annotations

import numpy as np

from . import impl_qdiff
from .circuits import born_target, qcbm
from .compare import compare
from .context import Context
from .report import Row

ROWS = COLS = 3
DEPTH = 10
DEFAULT, AER, BACKPROP = "default.qubit backprop", "qiskit-aer param-shift, 1 call", "qdiff backprop"


def run(ctx: Context) -> list[Row]:
    n = ROWS * COLS
    ctx.log(f"== qcbm n={n} depth={DEPTH} ==")
    spec, born = qcbm(n, DEPTH), born_target(ROWS, COLS)
    assert spec.num_parameters == (3 * DEPTH + 1) * n
    values = np.random.default_rng(99).uniform(0, 2 * np.pi, spec.num_parameters)
    ours = impl_qdiff.Born(spec, born, method="adjoint")
    peers: dict[str, object] = {BACKPROP: impl_qdiff.Born(spec, born, method="backprop")}
    absent: list[str] = []
    from . import impl_aer, impl_pennylane

    ctx.peers.attach(peers, absent, "default.qubit", DEFAULT, lambda qml: impl_pennylane.DefaultQubitBorn(qml, spec, born))
    ctx.peers.attach(peers, absent, "aer", AER, lambda _: impl_aer.AerBorn(spec, born, ctx.threads))
    loss, grad = ours(values)
    for label, peer in peers.items():
        peer_loss, peer_grad = peer(values)
        ctx.check(f"born n={n}, loss, qdiff vs {label}", loss, peer_loss)
        ctx.check(f"born n={n}, gradient, qdiff vs {label}", grad, peer_grad)
    fns = {"qdiff": lambda: ours(values)} | {k: (lambda p=p: p(values)) for k, p in peers.items()}
    return compare(ctx, "born-step", n, f"depth {DEPTH}, MMD, c128", fns, {DEFAULT: 1 / 30, AER: 1 / 100},
                   tuple(absent), min_repeats=3)
