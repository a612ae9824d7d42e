"""Hardware-efficient ansatz: energy only (forward) and energy + gradient, n = 4..22, 4 layers.

H = sum Z_i Z_{i+1} + sum X_i, complex128. qdiff ``method="adjoint"`` against lightning.qubit
adjoint, Qulacs backprop (gradient only: the strictest comparison), default.qubit backprop and
qiskit-aer parameter shift (all bindings in one call; the last two at small n only, they are slow).
Targets: energy + gradient at n = 20 <= 0.5 x lightning.qubit, at n = 8 <= 1.0 x Qulacs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import impl_qdiff
from .circuits import Observable, Spec, hea, hea_hamiltonian
from .compare import compare
from .context import Context
from .report import Row

LAYERS = 4
LIGHTNING, QULACS, DEFAULT, AER = ("lightning.qubit adjoint", "Qulacs backprop", "default.qubit backprop",
                                   "qiskit-aer param-shift, 1 call")
FORWARD_NAMES = {LIGHTNING: "lightning.qubit", QULACS: "Qulacs", DEFAULT: "default.qubit", AER: "qiskit-aer"}


def energy_peers(ctx: Context, spec: Spec, obs: Observable, slow_max_n: int) -> tuple[dict[str, object], list[str]]:
    """The available peers' energy(+gradient) objects for ``spec``; and the labels of absent ones.

    default.qubit and qiskit-aer are built only up to ``slow_max_n`` qubits.
    """
    n = spec.num_qubits
    made: dict[str, object] = {}
    absent: list[str] = []
    from . import impl_aer, impl_pennylane, impl_qulacs

    ctx.peers.attach(made, absent, "lightning", LIGHTNING, lambda qml: impl_pennylane.LightningEnergy(qml, spec, obs))
    ctx.peers.attach(made, absent, "qulacs", QULACS, lambda qulacs: impl_qulacs.QulacsEnergy(qulacs, spec, obs))
    if n <= slow_max_n:
        ctx.peers.attach(made, absent, "default.qubit", DEFAULT,
                         lambda qml: impl_pennylane.DefaultQubitEnergy(qml, spec, obs))
        ctx.peers.attach(made, absent, "aer", AER, lambda _: impl_aer.AerEnergy(spec, obs, ctx.threads))
    return made, absent


def cross_check(ctx: Context, what: str, ours: impl_qdiff.Energy, peers: dict[str, object], values: np.ndarray) -> None:
    """Energy and full gradient of qdiff against every peer (atol = rtol = 1e-8), before any timing."""
    e, g = ours(values)
    for label, peer in peers.items():
        pe, pg = peer(values)
        ctx.check(f"{what}, energy, qdiff vs {label}", e, pe)
        ctx.check(f"{what}, gradient, qdiff vs {label}", g, pg)
        ctx.check(f"{what}, forward energy, qdiff vs {label}", ours.forward(values), peer.forward(values))


def grad_call(label: str, peer: object, values: np.ndarray) -> Callable[[], object]:
    """What is timed for a peer's energy + gradient (Qulacs: its gradient alone)."""
    if label == QULACS:
        return lambda: peer.gradient(values)
    return lambda: peer(values)


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes_for("hea", list(range(4, 23, 2)), [4, 8, 12, 16, 20])
    slow_max_n = 8 if ctx.quick else 12
    rows: list[Row] = []
    rng = np.random.default_rng(1234)
    for i, n in enumerate(sizes):
        ctx.log(f"== hea n={n} ==")
        spec, obs = hea(n, LAYERS), hea_hamiltonian(n)
        values = rng.uniform(0, 2 * np.pi, spec.num_parameters)
        ours = impl_qdiff.Energy(spec, obs)
        peers, absent = energy_peers(ctx, spec, obs, slow_max_n)
        if i == 0:
            cross_check(ctx, f"hea n={n}", ours, peers, values)
        case = f"{LAYERS} layers, c128"
        fwd = {"qdiff": lambda: ours.forward(values)}
        fwd |= {FORWARD_NAMES[k]: (lambda p=p: p.forward(values)) for k, p in peers.items()}
        rows += compare(ctx, "hea-forward", n, case, fwd, skipped=tuple(FORWARD_NAMES[k] for k in absent))
        grad = {"qdiff": lambda: ours(values)} | {k: grad_call(k, p, values) for k, p in peers.items()}
        targets = {LIGHTNING: 0.5} if n == 20 else {QULACS: 1.0} if n == 8 else {}
        rows += compare(ctx, "hea-grad", n, case, grad, targets, tuple(absent), min_repeats=3 if targets else None)
    return rows
