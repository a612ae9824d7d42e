"""Compile a :class:`~qdiff.ir.Circuit` into a flat program of kernel steps, and run it.

Compilation (numpy, once per circuit, cached on the circuit):

* composite gates are lowered to their factors, barriers dropped;
* every rotation gets an *angle slot*; angle ``a`` is ``weights[a] @ values + offsets[a]``, so the
  affine parameter expressions become one linear map and engines get the chain rule for free
  (stored sparse, :attr:`Program.terms`: a deep circuit has as many slots as parameters, and the
  dense ``weights`` would be ``slots x parameters``, 128 MB at 4000 of each);
* qubits are sorted ascending and each operator permuted to match, then classified as diagonal,
  monomial (permutation times phases) or dense for the kernels in :mod:`qdiff.sim.kernels`; a
  rotation whose generator is a scaled monomial involution on 3 or more qubits (a Pauli string)
  becomes a ``"pauli"`` step, ``cos(g theta) psi - i sin(g theta) M psi`` with ``M`` a monomial
  (:mod:`qdiff.sim.monomial_rotation`), so no ``2**k x 2**k`` matrix is ever built for it.

Running (torch): all rotation matrices of a call are built in two vectorised expressions (one for
diagonal, one for dense generators), then the steps are applied in order; a large batch runs in
the kernels' batch-last layout (converted once on the way in and once on the way out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Literal

import numpy as np
import torch

from qdiff.ir.circuit import Circuit
from qdiff.ir.gates import GateSpec, spectral_decomposition, structure_of
from qdiff.ir.parameters import Parameter, ParameterExpression
from qdiff.sim.kernels import (
    MonomialPlan,
    apply_dense,
    apply_diagonal,
    apply_monomial,
    prefers_batch_last,
)
from qdiff.sim.monomial_rotation import (
    PAULI_MIN_QUBITS,
    MonomialRotation,
    dense_generator,
    generator_structure,
    involution,
    pauli_structure,
    rotate,
    rotation_coefficients,
)

StepKind = Literal["dense", "diagonal", "monomial", "pauli"]


def reorder_local(matrix: np.ndarray, perm: Sequence[int]) -> np.ndarray:
    """Re-express an operator on local qubits so that new local bit ``i`` is old bit ``perm[i]``.

    ``matrix`` has shape ``(..., d, d)`` or ``(..., d)`` (a diagonal, ``diag=True`` implied by ndim
    of the trailing axes being handled by the caller).
    """
    k = len(perm)
    if list(perm) == list(range(k)):
        return matrix
    lead = matrix.shape[:-2]
    t = matrix.reshape(lead + (2,) * (2 * k))
    nl = len(lead)
    # big-endian axes: axis j <-> local bit k-1-j
    rows = [nl + (k - 1 - perm[k - 1 - j]) for j in range(k)]
    cols = [nl + k + (k - 1 - perm[k - 1 - j]) for j in range(k)]
    return t.transpose(list(range(nl)) + rows + cols).reshape(matrix.shape)


@dataclass(frozen=True)
class Step:
    """One kernel application.

    Attributes:
        kind: which kernel applies it: ``"dense"``, ``"diagonal"``, ``"monomial"`` or ``"pauli"``
            (a rotation ``exp(-i theta g M)``, see :mod:`qdiff.sim.monomial_rotation`).
        qubits: ascending qubits.
        slot: angle slot for rotations, ``None`` for fixed operators.
        fixed: fixed operator data (dense ``(d, d)``; diagonal ``(d,)``); ``None`` for rotations
            and monomials.
        monomial: ``(perm, phases)``, ``new[perm[j]] = phases[j] * old[j]``: the operator of a
            fixed monomial step (tuples), the generator ``G`` of a ``"pauli"`` rotation
            (``|phases| = g``; read-only numpy arrays, ``2**k`` entries).
        diagonal: a diagonal rotation's generator diagonal ``(d,)`` (real).
        dense: a dense rotation's generator ``(d, d)``.
        op_index: index of the circuit op this step came from.
        spec: the (lowered) gate spec.
    """

    kind: StepKind
    qubits: tuple[int, ...]
    slot: int | None
    fixed: np.ndarray | None = field(default=None, repr=False)
    monomial: tuple[Sequence[int], Sequence[complex]] | None = field(default=None, repr=False)
    diagonal: np.ndarray | None = field(default=None, repr=False)
    dense: np.ndarray | None = field(default=None, repr=False)
    op_index: int = -1
    spec: GateSpec | None = field(default=None, repr=False)

    @cached_property
    def generator(self) -> np.ndarray | None:
        """A rotation's generator ``(d, d)`` in sorted local order, ``None`` for a fixed step.

        Built on first use for diagonal and ``"pauli"`` rotations (``4**k`` entries): the engines
        read :attr:`diagonal` / :attr:`monomial` instead.
        """
        if self.slot is None:
            return None
        if self.kind == "diagonal":
            return np.diag(self.diagonal).astype(complex)
        if self.kind == "pauli":
            return dense_generator(*self.monomial)
        return self.dense


@dataclass(frozen=True)
class Program:
    """A compiled circuit: kernel steps plus the affine map from parameter values to angles.

    Attributes:
        num_qubits: circuit width.
        steps: kernel steps in application order.
        parameters: the circuit's parameters (columns of ``weights``).
        terms: the nonzero coefficients of the angle map, ``(slot, parameter, coefficient)``
            arrays ``int64, int64, float64`` (sorted by slot); :attr:`weights` is their dense
            ``(num_slots, num_parameters)`` matrix, built on demand.
        offsets: ``(num_slots,)`` constant part of each angle.
        global_phase: phase multiplying the final state.
    """

    num_qubits: int
    steps: tuple[Step, ...]
    parameters: tuple[Parameter, ...]
    terms: tuple[np.ndarray, np.ndarray, np.ndarray]
    offsets: np.ndarray
    global_phase: float
    _torch: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_slots(self) -> int:
        """Number of rotation angles."""
        return len(self.offsets)

    @property
    def weights(self) -> np.ndarray:
        """``(num_slots, num_parameters)`` coefficients of each angle slot (dense; built on first
        use and cached: ``slots x parameters`` floats, so the runners use :attr:`terms`)."""
        if "weights" not in self._torch:
            rows, cols, coeffs = self.terms
            w = np.zeros((self.num_slots, len(self.parameters)))
            np.add.at(w, (rows, cols), coeffs)
            self._torch["weights"] = w
        return self._torch["weights"]

    def on(self, dtype: torch.dtype, device: torch.device) -> TorchProgram:
        """Torch tensors for this program in ``dtype`` on ``device`` (cached)."""
        key = (dtype, device)
        if key not in self._torch:
            self._torch[key] = TorchProgram(self, dtype, device)
        return self._torch[key]


def compile_circuit(circuit: Circuit) -> Program:
    """Compile ``circuit`` (cached per circuit until it is appended to)."""
    return circuit._derived("torch_program", _compile)


def _compile(circuit: Circuit) -> Program:
    params = circuit.parameters
    index = {p: i for i, p in enumerate(params)}
    steps: list[Step] = []
    term_slots: list[int] = []  # the angle map's nonzero terms (slot, parameter, coefficient)
    term_params: list[int] = []
    term_coeffs: list[float] = []
    offsets: list[float] = []

    def lower(spec: GateSpec, qubits: tuple[int, ...], angles: Sequence[ParameterExpression], op_index: int) -> None:
        if spec.kind == "composite":
            for f in spec.factors:
                sub = [sum((w * a for w, a in zip(row, angles)), ParameterExpression()) + off
                       for row, off in zip(f.weights, f.offsets)]
                lower(f.spec, tuple(qubits[i] for i in f.qubits), sub, op_index)
            return
        perm = sorted(range(len(qubits)), key=lambda i: qubits[i])
        sorted_q = tuple(qubits[i] for i in perm)
        if spec.kind == "fixed":
            m = reorder_local(spec.fixed_matrix, perm)
            kind = structure_of(m)
            if kind == "diagonal":
                steps.append(Step("diagonal", sorted_q, None, fixed=np.diag(m).copy(), op_index=op_index, spec=spec))
            elif kind == "monomial":
                cols = np.abs(m).argmax(axis=0)  # column j has its nonzero in row perm[j]
                phases = m[cols, np.arange(len(m))]
                steps.append(Step("monomial", sorted_q, None,
                                  monomial=(tuple(int(c) for c in cols), tuple(complex(p) for p in phases)),
                                  op_index=op_index, spec=spec))
            else:
                steps.append(Step("dense", sorted_q, None, fixed=m, op_index=op_index, spec=spec))
            return
        expr = angles[0]
        slot = len(offsets)
        for p, c in expr.coefficients.items():
            if c != 0:
                term_slots.append(slot)
                term_params.append(index[p])
                term_coeffs.append(float(c))
        offsets.append(expr.offset)
        kind, data = _generator_structure(spec, tuple(perm))
        if kind == "diagonal":
            steps.append(Step("diagonal", sorted_q, slot, diagonal=data, op_index=op_index, spec=spec))
        elif kind == "pauli":
            steps.append(Step("pauli", sorted_q, slot, monomial=data, op_index=op_index, spec=spec))
        else:
            steps.append(Step("dense", sorted_q, slot, dense=reorder_local(spec.generator_matrix, perm),
                              op_index=op_index, spec=spec))

    for i, op in enumerate(circuit.ops):
        if not op.is_directive:
            lower(op.spec, op.qubits, op.params, i)
    terms = (np.array(term_slots, dtype=np.int64), np.array(term_params, dtype=np.int64),
             np.array(term_coeffs, dtype=float))
    return Program(circuit.num_qubits, tuple(steps), params, terms, np.array(offsets, dtype=float),
                   circuit.global_phase)


@lru_cache(maxsize=1024)
def _generator_structure(spec: GateSpec, order: tuple[int, ...]) -> tuple[str, object]:
    """:func:`~qdiff.sim.monomial_rotation.generator_structure` of a rotation spec's generator
    (memoised: the analysis reads all ``4**k`` entries once per spec and qubit order). A Pauli
    string is read from its letters in ``O(2**k)``, its matrix never built."""
    if spec.pauli is not None and len(spec.pauli) >= PAULI_MIN_QUBITS:
        return pauli_structure(spec.pauli, order)
    return generator_structure(spec.generator_matrix, order)


class RotationTable:
    """The rotation operators of some program steps, built for a call in a few vectorised ops.

    Rotations are grouped by (kind, size): each group holds its angle slots ``(G,)`` and either
    generator diagonals ``(G, d)``, spectra ``(G, E)`` with projectors ``(G, E, d, d)`` (padded
    with zero projectors), or for ``"pauli"`` steps (one group, key ``("pauli", 2)``) the scales
    ``g`` ``(G,)``, so all operators of a group come from one vectorised expression.
    ``positions[i]`` says where the operator of ``steps[i]`` lies: ``(group key, index)``.
    """

    def __init__(self, steps: Sequence[Step], dtype: torch.dtype, device: torch.device):
        self.real_dtype = dtype.to_real()
        self.positions: list[tuple[tuple[str, int], int]] = []
        groups: dict[tuple[str, int], list[tuple[int, np.ndarray, np.ndarray | None]]] = {}
        for step in steps:
            if step.kind == "pauli":
                key = ("pauli", 2)
            else:
                key = (step.kind, len(step.diagonal) if step.kind == "diagonal" else step.dense.shape[-1])
            members = groups.setdefault(key, [])
            self.positions.append((key, len(members)))
            if step.kind == "diagonal":
                members.append((step.slot, step.diagonal, None))
            elif step.kind == "pauli":
                members.append((step.slot, np.array(abs(step.monomial[1][0])), None))
            else:
                lam, proj = spectral_decomposition(step.dense)
                members.append((step.slot, lam, proj))
        self.groups: dict[tuple[str, int], tuple[torch.Tensor, ...]] = {}
        for key, members in groups.items():
            slots = torch.tensor([m[0] for m in members], dtype=torch.long, device=device)
            if key[0] in ("diagonal", "pauli"):
                gens = np.stack([m[1] for m in members])
                self.groups[key] = (slots, torch.as_tensor(gens, dtype=self.real_dtype, device=device))
            else:
                E = max(len(m[1]) for m in members)
                lams = np.zeros((len(members), E))
                projs = np.zeros((len(members), E, key[1], key[1]), dtype=complex)
                for i, (_, lam, proj) in enumerate(members):
                    lams[i, : len(lam)] = lam
                    projs[i, : len(lam)] = proj  # padding: zero projectors contribute nothing
                self.groups[key] = (slots, torch.as_tensor(lams, dtype=self.real_dtype, device=device),
                                    torch.as_tensor(projs, dtype=dtype, device=device))

    def build(self, angles: torch.Tensor) -> dict[tuple[str, int], torch.Tensor]:
        """Each group's operators for ``angles`` ``(B, num_slots)``: ``(B, G, d)`` diagonals,
        ``(B, G, d, d)`` matrices or ``(B, G, 2)`` Pauli coefficients ``(cos, -i sin)``."""
        built: dict[tuple[str, int], torch.Tensor] = {}
        for key, data in self.groups.items():
            if key[0] == "pauli":
                built[key] = rotation_coefficients(angles[:, data[0]], data[1])
                continue
            theta = angles[:, data[0]][..., None]  # (B, G, 1)
            phases = _unit_phases(-theta * data[1])  # (B, G, d or E)
            built[key] = phases if key[0] == "diagonal" else torch.einsum("bge,geij->bgij", phases, data[2])
        return built

    def operators(self, angles: torch.Tensor, shared: bool) -> list[torch.Tensor]:
        """One operator per step: ``(B, d)`` / ``(B, d, d)`` / ``(B, 2)`` (Pauli coefficients);
        ``shared`` (``B == 1``) drops the batch axis."""
        views = {key: (b[0].unbind(0) if shared else b.unbind(1)) for key, b in self.build(angles).items()}
        return [views[key][i] for key, i in self.positions]


class TorchProgram:
    """A :class:`Program`'s operator data as torch tensors of one dtype and device.

    :meth:`run` executes the fused plan of :mod:`qdiff.sim.plan` (cached per chunk size);
    :meth:`run_steps` applies the compiled steps one by one (the unfused reference).
    """

    def __init__(self, program: Program, dtype: torch.dtype, device: torch.device):
        self.program = program
        self.dtype = dtype
        self.device = device
        self.real_dtype = dtype.to_real()
        n = program.num_qubits
        self.fixed: list[object] = []
        self.rotation_pos: list[int | None] = []
        self.involutions: dict[int, MonomialPlan] = {}  # step -> M of a "pauli" step
        rotations: list[Step] = []
        shared: dict[tuple, MonomialPlan] = {}  # identical gates share one plan and its index tensors
        for i, step in enumerate(program.steps):
            if step.kind == "pauli":
                m = involution(step.qubits, n, *step.monomial)[0]
                self.involutions[i] = shared.setdefault(m.key(), m)
            if step.slot is None:
                self.rotation_pos.append(None)
                if step.kind == "monomial":
                    perm, phases = step.monomial
                    m = MonomialPlan(perm, phases, step.qubits, n)
                    self.fixed.append(shared.setdefault(m.key(), m))
                else:
                    self.fixed.append(torch.as_tensor(step.fixed, dtype=dtype, device=device))
                continue
            self.fixed.append(None)
            self.rotation_pos.append(len(rotations))
            rotations.append(step)
        self.table = RotationTable(rotations, dtype, device)
        self.offsets = torch.as_tensor(program.offsets, dtype=self.real_dtype, device=device)
        rows, cols, coeffs = program.terms
        self._term_rows = torch.as_tensor(rows, device=device)
        self._term_cols = torch.as_tensor(cols, device=device)
        self._term_coeffs = torch.as_tensor(coeffs, dtype=self.real_dtype, device=device)
        # one term per slot, in slot order (the usual case): angles = values[:, cols] * coeffs + offsets
        self._one_term = len(rows) == program.num_slots and bool(np.all(rows == np.arange(len(rows))))
        # ...and each slot is its own parameter as it is (the usual case): angles = values
        self._identity = self._one_term and len(cols) == len(program.parameters) and \
            bool(np.all(cols == np.arange(len(cols))) and np.all(coeffs == 1) and not np.any(program.offsets))
        self._plans: dict[int, object] = {}

    @cached_property
    def weights(self) -> torch.Tensor:
        """The dense ``(num_slots, num_parameters)`` angle map (:attr:`Program.weights`), built on first use."""
        return torch.as_tensor(self.program.weights, dtype=self.real_dtype, device=self.device)

    def angles(self, values: torch.Tensor) -> torch.Tensor:
        """Angle slots ``(B, num_slots)`` from parameter values ``(B, num_parameters)`` (differentiable;
        a gather and a multiply over the sparse terms, never a ``slots x parameters`` matrix)."""
        if values.dtype != self.real_dtype:  # as the matrix product did: the dtypes must agree
            raise TypeError(f"parameter values are {values.dtype}, the program runs in {self.real_dtype}")
        if self._identity:
            return values
        terms = values[..., self._term_cols] * self._term_coeffs
        if self._one_term:
            return terms + self.offsets
        out = self.offsets.expand(values.shape[:-1] + self.offsets.shape).clone()
        return out.index_add(-1, self._term_rows, terms)

    def rotation_operators(self, angles: torch.Tensor) -> list[torch.Tensor | None]:
        """Every rotation's operator for ``angles`` ``(B, num_slots)``: ``(B, d)`` diagonals
        or ``(B, d, d)`` matrices, ``None`` for fixed steps.

        ``"pauli"`` steps come as dense ``(B, d, d)`` matrices here (``4**k`` entries, which
        :func:`apply_step` accepts for them), for analysis code that wants tensors; the runners
        use :class:`~qdiff.sim.monomial_rotation.MonomialRotation` operators instead."""
        ops = self._operators(angles, shared=False)
        return [op.dense() if isinstance(op, MonomialRotation) else op for op in ops]

    def _operators(self, angles: torch.Tensor, shared: bool) -> list[object | None]:
        """Each step's rotation operator (a :class:`MonomialRotation` for ``"pauli"`` steps),
        ``None`` for fixed steps; ``shared`` (``B == 1``) drops the batch axis."""
        ops = self.table.operators(angles, shared) if self.table.positions else []
        out: list[object | None] = [None if pos is None else ops[pos] for pos in self.rotation_pos]
        for i, m in self.involutions.items():
            out[i] = MonomialRotation(m, out[i])
        return out

    def plan(self, batch: int, angle_batch: int):  # type: ignore[no-untyped-def]
        """The fused execution plan (:class:`qdiff.sim.plan.TorchPlan`) for a state batch of
        ``batch`` and operators batched ``angle_batch`` times (cached per chunk size)."""
        from qdiff.sim.fusion import chunk_qubits
        from qdiff.sim.plan import TorchPlan

        k = chunk_qubits(self.program.num_qubits, batch, angle_batch)
        if k not in self._plans:
            self._plans[k] = TorchPlan(self, k)
        return self._plans[k]

    def run(self, state: torch.Tensor, angles: torch.Tensor | None, *, built: object | None = None,
            keep: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Apply the circuit to ``state`` ``(B, 2**n)``; ``angles`` is ``(B or 1, num_slots)``.

        Runs the fused plan; large batches run batch-last (see :mod:`qdiff.sim.kernels`); the
        result is contiguous. ``built``: the plan's operators when the caller built them already
        (:meth:`qdiff.sim.plan.TorchPlan.build` of ``self.plan(B, angle batch)``); ``keep``: a list
        that receives the state after every block (:meth:`qdiff.sim.plan.TorchPlan.run`).
        """
        if angles is not None and angles.shape[1] == 0:
            angles = None
        return self.plan(state.shape[0], 1 if angles is None else angles.shape[0]).run(state, angles, built, keep)

    def run_steps(self, state: torch.Tensor, angles: torch.Tensor | None) -> torch.Tensor:
        """As :meth:`run`, one kernel call per compiled step (no fusion)."""
        n = self.program.num_qubits
        if angles is None:
            rotations: list[torch.Tensor | None] = [None] * len(self.fixed)
        else:
            rotations = self._operators(angles, shared=angles.shape[0] == 1)
        batch_last = prefers_batch_last(state)
        if batch_last:
            state = state.T.contiguous().T
        for step, fixed, rotation in zip(self.program.steps, self.fixed, rotations):
            state = apply_step(state, step.kind, fixed if rotation is None else rotation, step.qubits, n)
        if self.program.global_phase:
            state = state * complex(np.exp(1j * self.program.global_phase))
        return state.contiguous() if batch_last else state


def _unit_phases(angle: torch.Tensor) -> torch.Tensor:
    """``exp(i * angle)``; cos and sin are vectorised, ``torch.polar`` is not (5x slower in bulk)."""
    if angle.numel() < 256:
        return torch.polar(torch.ones_like(angle), angle)
    return torch.complex(torch.cos(angle), torch.sin(angle))


def apply_step(state: torch.Tensor, kind: str, op: object, qubits: tuple[int, ...], n: int) -> torch.Tensor:
    """Dispatch one step to its kernel (a ``"pauli"`` step takes a :class:`MonomialRotation`, or a
    dense matrix as :meth:`TorchProgram.rotation_operators` gives)."""
    if kind == "pauli" and isinstance(op, MonomialRotation):
        return rotate(state, op, apply_monomial)
    if kind in ("dense", "pauli"):
        return apply_dense(state, op, qubits, n)
    if kind == "diagonal":
        return apply_diagonal(state, op, qubits, n)
    return apply_monomial(state, op)
