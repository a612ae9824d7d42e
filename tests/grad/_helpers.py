"""Shared pieces of the gradient-engine tests: seeded random circuits, outputs, references, probes.

Nothing here knows how an engine works: references are computed by evaluating qdiff with
``method="backprop"`` under ``torch.no_grad`` at shifted values, and the probes only wrap the
simulator's entry points (``TorchProgram.run`` and the kernels) to count and inspect calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

import qdiff
from qdiff import Circuit, Parameter, ParameterVector, PauliSum, X, Y, Z
from qdiff.sim import plan as plan_module
from qdiff.sim import program as program_module
from qdiff.sim import tape as tape_module

adjoint_module = importlib.import_module("qdiff.grad.adjoint")  # the module (qdiff.grad.adjoint is the engine)

F64 = torch.float64

PARAMETRIZED_GATES = ("rx", "ry", "rz", "p", "u", "crx", "cry", "crz", "cp",
                      "rxx", "ryy", "rzz", "rzx", "pauli_rot")
"""Every parametrized gate of the library (each random circuit uses each of them twice)."""

FOUR_TERM_GATES = ("crx", "cry", "crz")
"""Controlled rotations: generator eigenvalues {0, +-1/2}, a four-term shift rule."""

FIXED_GATES = ("h", "sx", "s", "t", "y", "cx", "cz", "swap", "iswap", "ch")

EXACT_ENGINES = ("backprop", "adjoint", "param_shift")


def random_circuit(seed: int, num_qubits: int = 3, global_phase: float = 0.0) -> Circuit:
    """A seeded circuit using every parametrized gate twice, in random order on random qubits.

    Angles cycle through shared parameters, affine expressions (``2*t+0.1``, ``t-s``, ``-w[3]``,
    ...) and one constant, so parameters are shared between gates and some angle slots are not
    trainable. Fixed gates are sprinkled in between.
    """
    rng = np.random.default_rng(seed)
    t, s = Parameter("t"), Parameter("s")
    w = ParameterVector("w", 4)
    angles = [2 * t + 0.1, t - s, -w[3], w[0], 0.5 * w[1] - 0.2, w[2] + s, t, 0.7, s, -1.5 * w[1] + w[0]]
    c = Circuit(num_qubits, global_phase=global_phase)
    c.h(list(range(num_qubits)))
    order = list(PARAMETRIZED_GATES) * 2
    rng.shuffle(order)
    k = int(rng.integers(len(angles)))

    def angle():  # type: ignore[no-untyped-def]
        nonlocal k
        k += 1
        return angles[k % len(angles)]

    def qubits(m: int) -> list[int]:
        return [int(q) for q in rng.choice(num_qubits, size=m, replace=False)]

    for name in order:
        if name == "u":
            c.u(angle(), angle(), angle(), qubits(1)[0])
        elif name == "pauli_rot":
            m = int(rng.integers(1, num_qubits + 1))
            letters = "".join(rng.choice(list("XYZ"), size=m))
            c.pauli_rot(letters, qubits(m), angle())
        elif name in ("rx", "ry", "rz", "p"):
            getattr(c, name)(angle(), qubits(1)[0])
        else:
            getattr(c, name)(angle(), *qubits(2))
        if rng.random() < 0.6:
            fixed = FIXED_GATES[int(rng.integers(len(FIXED_GATES)))]
            if fixed in ("cx", "cz", "swap", "iswap", "ch"):
                getattr(c, fixed)(*qubits(2))
            else:
                getattr(c, fixed)(qubits(1)[0])
    return c


def random_values(circuit: Circuit, batch: tuple[int, ...], seed: int) -> torch.Tensor:
    """Seeded float64 values ``(*batch, P)`` spread over a few radians."""
    g = torch.Generator().manual_seed(1000 + seed)
    return (2.0 * torch.rand(batch + (circuit.num_parameters,), generator=g, dtype=F64) - 1.0) * 2.5


def observables(num_qubits: int = 3) -> list[PauliSum]:
    """A few Hermitian observables: a product, a weighted sum, and a Qiskit-labelled sum."""
    assert num_qubits == 3
    return [
        Z(0) @ Z(1),
        0.5 * X(0) - 1.3 * Y(2) + 0.25 * Z(1),
        PauliSum.from_list([("XYZ", 0.3), ("ZIX", -1.1), ("IYY", 0.7), ("III", 0.2)]),
    ]


Output = Callable[[Circuit, torch.Tensor, object], torch.Tensor]

OUTPUTS: dict[str, Output] = {
    "expval_list": lambda c, v, m: qdiff.expval(c, observables(), v, method=m),
    "expval_single": lambda c, v, m: qdiff.expval(c, X(1) @ Y(2), v, method=m),
    "probs": lambda c, v, m: qdiff.probs(c, v, method=m),
    "probs_marginal": lambda c, v, m: qdiff.probs(c, v, qubits=[2, 0], method=m),
    "var": lambda c, v, m: qdiff.var(c, observables(), v, method=m),
}
"""Outputs every engine must differentiate (``(circuit, values, method) -> tensor``)."""

STATE: Output = lambda c, v, m: qdiff.state(c, v, method=m)  # noqa: E731


def cotangent(out: torch.Tensor, seed: int) -> torch.Tensor:
    """A fixed random cotangent shaped like ``out`` (complex for a complex output)."""
    g = torch.Generator().manual_seed(77 + seed)
    c = torch.randn(out.shape, generator=g, dtype=F64)
    if out.is_complex():
        c = torch.complex(c, torch.randn(out.shape, generator=g, dtype=F64))
    return c


def contract(out: torch.Tensor, cot: torch.Tensor, batch_dims: int) -> torch.Tensor:
    """``Re sum(conj(cot) * out)`` over the non-batch dimensions; shape ``out.shape[:batch_dims]``."""
    prod = (cot.conj() * out).real if out.is_complex() else cot * out
    return prod.reshape(prod.shape[:batch_dims] + (-1,)).sum(-1)


_STENCIL = ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12))  # 4th-order central differences


def fd_gradient(fn: Callable[[torch.Tensor], torch.Tensor], values: torch.Tensor, cot: torch.Tensor,
                h: float = 1e-3) -> torch.Tensor:
    """Gradient of ``contract(fn(values), cot)`` w.r.t. ``values`` ``(*batch, P)`` by a 4th-order
    central stencil, all shifted values in one no-grad call. Each batch element's output depends
    only on its own values, so perturbing a parameter in every batch element at once is exact."""
    values = values.detach()
    P = values.shape[-1]
    batch_dims = values.dim() - 1
    eye = torch.eye(P, dtype=values.dtype)
    shifted = torch.stack([values + k * h * eye[p] for p in range(P) for k, _ in _STENCIL])
    with torch.no_grad():
        out = fn(shifted)  # (P * 4, *batch, ...)
    loss = contract(out, cot.expand(out.shape), batch_dims + 1).reshape((P, len(_STENCIL)) + values.shape[:-1])
    weights = torch.tensor([w for _, w in _STENCIL], dtype=values.dtype).reshape((1, -1) + (1,) * batch_dims)
    grad = (loss * weights).sum(1) / h  # (P, *batch)
    return grad.movedim(0, -1)


def engine_gradient(fn: Callable[[torch.Tensor], torch.Tensor], values: torch.Tensor,
                    cot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, d contract(output, cot) / d values)`` through whatever engine ``fn`` uses."""
    v = values.detach().clone().requires_grad_(True)
    out = fn(v)
    (grad,) = torch.autograd.grad(contract(out, cot, values.dim() - 1).sum(), v)
    return out.detach(), grad


def expected_shift_count(circuit: Circuit) -> int:
    """Shifted evaluations parameter shift needs per batch element, read from the circuit's ops:
    two per trainable angle of a two-term gate, four per trainable controlled-rotation angle,
    none for constant angles. (``u`` has three angles, each a two-term phase or y rotation.)"""
    k = 0
    for op in circuit.ops:
        for expr in op.params:
            if not expr.is_constant():
                k += 4 if op.name in FOUR_TERM_GATES else 2
    return k


def graph_nodes(t: torch.Tensor) -> list[object]:
    """``t.grad_fn`` and every autograd node reachable from it."""
    return [t.grad_fn] + graph_nodes_from(t.grad_fn) if t.grad_fn is not None else []


def graph_nodes_from(root: object) -> list[object]:
    """Every autograd node reachable from ``root`` (itself excluded)."""
    seen: dict[int, object] = {}
    stack = [nxt for nxt, _ in root.next_functions] if root is not None else []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(nxt for nxt, _ in node.next_functions)
    return list(seen.values())


def node_names(t: torch.Tensor) -> list[str]:
    return [type(n).__name__ for n in graph_nodes(t)]


@dataclass
class RunCall:
    batch: int
    grad_enabled: bool


@dataclass
class RunCounter:
    """Records every ``TorchProgram.run`` call (batch size of the state, grad mode)."""

    calls: list[RunCall] = field(default_factory=list)

    def reset(self) -> None:
        self.calls.clear()

    @property
    def batches(self) -> list[int]:
        return [c.batch for c in self.calls]


def count_runs(monkeypatch) -> RunCounter:  # type: ignore[no-untyped-def]
    """Wrap the simulator's runs with a counter (undone by ``monkeypatch``):
    ``qdiff.sim.program.TorchProgram.run`` and the adjoint engine's numba tape run."""
    counter = RunCounter()
    original = program_module.TorchProgram.run
    original_tape = adjoint_module.run_tape

    def run(self, state, angles, **kwargs):  # type: ignore[no-untyped-def]
        counter.calls.append(RunCall(int(state.shape[0]), torch.is_grad_enabled()))
        return original(self, state, angles, **kwargs)

    def run_tape(tape, state, angles):  # type: ignore[no-untyped-def]
        counter.calls.append(RunCall(int(state.shape[0]), torch.is_grad_enabled()))
        return original_tape(tape, state, angles)

    monkeypatch.setattr(program_module.TorchProgram, "run", run)
    monkeypatch.setattr(adjoint_module, "run_tape", run_tape)
    return counter


def torch_plan_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Turn the numba tape off (:mod:`qdiff.sim.tape`), so that the adjoint engine runs and sweeps
    the torch plan even for small states (undone by ``monkeypatch``)."""
    monkeypatch.setattr(tape_module, "TAPE_MAX_QUBITS", -1)
    monkeypatch.setattr(tape_module, "TAPE_WIDE_MAX_QUBITS", -1)


@dataclass
class KernelCall:
    kernel: str
    grad_enabled: bool
    requires_grad: bool
    grad_fn: object


@dataclass
class KernelProbe:
    """Records every kernel call made through :func:`qdiff.sim.plan.apply_block` (the fused plan)
    or :func:`qdiff.sim.program.apply_step` (unfused steps)."""

    calls: list[KernelCall] = field(default_factory=list)

    def reset(self) -> None:
        self.calls.clear()


def probe_kernels(monkeypatch) -> KernelProbe:  # type: ignore[no-untyped-def]
    """Wrap the kernels as seen by ``apply_block`` and ``apply_step`` (module globals of
    :mod:`qdiff.sim.plan` and :mod:`qdiff.sim.program`), which ``TorchProgram.run``, ``run_steps``
    and the adjoint walker go through, and the plan's layer kernels (``rotating_gemm``, one block;
    ``layer_product``, two blocks: recorded twice; also as the adjoint sweep imports it), so that
    one call is recorded per block. The torch kernels are what it sees, so it turns the numba tape
    off (:func:`torch_plan_only`)."""
    torch_plan_only(monkeypatch)
    probe = KernelProbe()
    wrapped = [(module, name, 1) for module in (plan_module, program_module)
               for name in ("apply_dense", "apply_diagonal", "apply_monomial")]
    wrapped += [(plan_module, "rotating_gemm", 1), (plan_module, "layer_product", 2),
                (adjoint_module, "layer_product", 2)]
    for module, name, blocks in wrapped:
        original = getattr(module, name)

        def wrapper(*args, _original=original, _name=name, _blocks=blocks):  # type: ignore[no-untyped-def]
            out = _original(*args)
            probe.calls += [KernelCall(_name, torch.is_grad_enabled(), out.requires_grad, out.grad_fn)] * _blocks
            return out

        monkeypatch.setattr(module, name, wrapper)
    return probe


def _plan(circuit: Circuit, batch: int) -> plan_module.TorchPlan:
    """The fused plan that runs ``circuit`` on ``batch`` states with per-sample angles (complex128, CPU)."""
    tp = program_module.compile_circuit(circuit).on(torch.complex128, torch.device("cpu"))
    return tp.plan(batch, batch)


def num_steps(circuit: Circuit, batch: int = 2) -> tuple[int, int]:
    """``(kernel calls, rotating blocks)`` of the fused plan of ``circuit`` for ``batch`` states."""
    blocks = _plan(circuit, batch).blocks
    return len(blocks), sum(1 for b in blocks if b.fixed is None)


def first_rotation(circuit: Circuit, batch: int = 2) -> int:
    """Index of the first rotating block of the fused plan."""
    return next(i for i, b in enumerate(_plan(circuit, batch).blocks) if b.fixed is None)
