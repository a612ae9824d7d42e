"""`Op` (a gate placed on qubits with angle expressions) and `Circuit` (a sequence of ops).

A circuit never stores numbers for its trainable parameters: values are passed at call time as
a tensor of shape ``(*batch, circuit.num_parameters)`` ordered as ``circuit.parameters`` (order of
first appearance). Builder methods (``h``, ``cx``, ``rx``, ... in :mod:`qdiff.ir.builders`) append
in place and return the circuit, so they chain like Qiskit's; every other operation
(``compose``, ``inverse``, ``assign``) returns a new circuit. A circuit freezes when it is hashed
(e.g. used as a dict key): appending to it afterwards raises, so a key can never change.

>>> from qdiff.ir import Circuit, Parameter
>>> theta = Parameter("theta")
>>> c = Circuit(2).h(0).cx(0, 1).rz(2 * theta, 1)
>>> len(c), c.num_parameters, c.depth(), c.count_ops()
(3, 1, 3, {'h': 1, 'cx': 1, 'rz': 1})
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from qdiff.errors import GateError, QdiffError, QubitError
from qdiff.ir.builders import GateBuilders
from qdiff.ir.gates import GateSpec
from qdiff.ir.library import get_spec, unitary_spec
from qdiff.ir.parameters import (
    Parameter,
    ParameterExpression,
    ParameterLike,
    ParameterVector,
    as_expression,
    expand_parameter_mapping,
)

T = TypeVar("T")

BARRIER = GateSpec("barrier", 0, 0, "composite", "barrier")
"""A directive: drawn and exported, ignored by simulators (any number of qubits)."""


@dataclass(frozen=True, eq=False)
class Op:
    """A gate ``spec`` placed on ``qubits`` with one affine expression per angle."""

    spec: GateSpec
    qubits: tuple[int, ...]
    params: tuple[ParameterExpression, ...] = ()

    @property
    def name(self) -> str:
        """The gate's name."""
        return self.spec.name

    @property
    def is_directive(self) -> bool:
        """True for barriers, which simulators skip."""
        return self.spec is BARRIER

    def _key(self) -> tuple:
        return (self.spec.key, self.qubits, self.params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        args = ", ".join(str(p) for p in self.params)
        return f"{self.name}({args}) @ {list(self.qubits)}" if args else f"{self.name} @ {list(self.qubits)}"


class Circuit(GateBuilders):
    """A quantum circuit on ``num_qubits`` qubits (qubit 0 is the least significant bit)."""

    def __init__(self, num_qubits: int, ops: Iterable[Op] = (), *, global_phase: float = 0.0,
                 name: str | None = None):
        if isinstance(num_qubits, bool) or not isinstance(num_qubits, numbers.Integral) or num_qubits < 0:
            raise QubitError(f"num_qubits must be a non-negative int, got {num_qubits!r}")
        self._num_qubits = int(num_qubits)
        self._ops: list[Op] = []
        self._global_phase = float(global_phase)
        self.name = name
        self._frozen = False
        self._parameters_cache: tuple[int, tuple[Parameter, ...]] | None = None
        self._derived_cache: dict[str, tuple[int, object]] = {}
        for op in ops:
            self.append(op)

    # -- structure -------------------------------------------------------------------------
    @property
    def num_qubits(self) -> int:
        """Number of qubits."""
        return self._num_qubits

    @property
    def ops(self) -> tuple[Op, ...]:
        """The ops in application order."""
        return tuple(self._ops)

    @property
    def global_phase(self) -> float:
        """A constant phase ``exp(i global_phase)`` multiplying the circuit's unitary."""
        return self._global_phase

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """Free parameters in order of first appearance (never alphabetical)."""
        if self._parameters_cache is None or self._parameters_cache[0] != len(self._ops):
            seen: dict[Parameter, None] = {}
            for op in self._ops:
                for expr in op.params:
                    for p in expr.parameters:
                        seen.setdefault(p, None)
            self._parameters_cache = (len(self._ops), tuple(seen))
        return self._parameters_cache[1]

    @property
    def num_parameters(self) -> int:
        """Number of free parameters: the length of the last axis of ``values``."""
        return len(self.parameters)

    def __len__(self) -> int:
        return len(self._ops)

    def _derived(self, key: str, build: Callable[[Circuit], T]) -> T:
        """Memoise data derived from this circuit (e.g. a compiled program) until it changes.

        Layers above the IR use this instead of global caches; an append invalidates the entry.
        """
        hit = self._derived_cache.get(key)
        if hit is None or hit[0] != len(self._ops):
            hit = (len(self._ops), build(self))
            self._derived_cache[key] = hit
        return hit[1]  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Op]:
        return iter(tuple(self._ops))

    def __getitem__(self, index: int) -> Op:
        return self._ops[index]

    def depth(self) -> int:
        """Number of layers when every gate starts as early as its qubits allow (barriers excluded)."""
        level = [0] * self._num_qubits
        for op in self._ops:
            if op.is_directive:
                continue
            start = max((level[q] for q in op.qubits), default=0) + 1
            for q in op.qubits:
                level[q] = start
        return max(level, default=0)

    def count_ops(self) -> dict[str, int]:
        """Number of ops of each gate name, in order of first appearance."""
        counts: dict[str, int] = {}
        for op in self._ops:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts

    # -- building ---------------------------------------------------------------------------
    def append(self, op_or_spec: Op | GateSpec | str, qubits: Sequence[int] = (),
               params: Sequence[ParameterLike] = ()) -> Circuit:
        """Append an :class:`Op`, or a gate given by spec or name with qubits and angles.

        Raises:
            QubitError: a qubit out of range, repeated, or the wrong count for the gate.
            GateError: the wrong number of angles.
            NonAffineError: an angle that is not a number, Parameter or affine expression.
        """
        if self._frozen:
            raise QdiffError("this circuit was hashed (used as a dict key or cached) and is frozen; "
                             "use circuit.copy() to get an editable copy")
        if isinstance(op_or_spec, Op):
            op = op_or_spec
            spec, qubits, params = op.spec, op.qubits, op.params
        else:
            spec = get_spec(op_or_spec) if isinstance(op_or_spec, str) else op_or_spec
        qubits = self._check_qubits(spec, qubits)
        if spec is not BARRIER and len(params) != spec.num_params:
            raise GateError(f"gate {spec.name!r} takes {spec.num_params} angle(s), got {len(params)}")
        exprs = tuple(as_expression(p) for p in params)
        self._ops.append(Op(spec, qubits, exprs))
        return self

    def _check_qubits(self, spec: GateSpec, qubits: Sequence[int]) -> tuple[int, ...]:
        qs: list[int] = []
        for q in qubits:
            if isinstance(q, bool) or not isinstance(q, numbers.Integral):
                raise QubitError(f"gate {spec.name!r}: qubit indices must be ints, got {q!r}")
            q = int(q)
            if not 0 <= q < self._num_qubits:
                raise QubitError(f"gate {spec.name!r}: qubit {q} is out of range for a circuit of "
                                 f"{self._num_qubits} qubit(s) (valid: 0..{self._num_qubits - 1})")
            qs.append(q)
        if len(set(qs)) != len(qs):
            raise QubitError(f"gate {spec.name!r}: qubit repeated in {qs}; each qubit may appear once per gate")
        if spec is not BARRIER and len(qs) != spec.num_qubits:
            raise QubitError(f"gate {spec.name!r} acts on {spec.num_qubits} qubit(s), got {len(qs)}: {qs}")
        return tuple(qs)

    def barrier(self, *qubits: int | Sequence[int]) -> Circuit:
        """A barrier on the given qubits (all qubits if none given); simulators ignore it."""
        flat: list[int] = []
        for q in qubits:
            flat.extend(q if isinstance(q, Sequence) else [q])
        return self.append(BARRIER, flat or range(self._num_qubits))

    def unitary(self, matrix: object, qubits: Sequence[int] | int, label: str = "unitary") -> Circuit:
        """A fixed gate from a unitary ``matrix`` (little-endian: qubits[0] is bit 0)."""
        qs = [qubits] if isinstance(qubits, numbers.Integral) else list(qubits)
        spec = unitary_spec(np.asarray(matrix), label)
        return self.append(spec, qs)

    # -- derived circuits --------------------------------------------------------------------
    def copy(self) -> Circuit:
        """An unfrozen copy."""
        return Circuit(self._num_qubits, self._ops, global_phase=self._global_phase, name=self.name)

    def compose(self, other: Circuit, qubits: Sequence[int] | None = None) -> Circuit:
        """A new circuit: this one followed by ``other`` placed on ``qubits`` (default 0..k-1)."""
        mapping = list(range(other.num_qubits)) if qubits is None else list(qubits)
        if len(mapping) != other.num_qubits:
            raise QubitError(f"compose: other circuit has {other.num_qubits} qubit(s) but "
                             f"{len(mapping)} target qubit(s) were given")
        if len(set(mapping)) != len(mapping):
            raise QubitError(f"compose: target qubits {mapping} contain a repeated index; "
                             "each qubit of the other circuit needs its own qubit")
        out = self.copy()
        for op in other:
            out.append(op.spec, [mapping[q] for q in op.qubits], op.params)
        out._global_phase += other.global_phase
        return out

    def inverse(self) -> Circuit:
        """The inverse circuit ``U^dagger`` (ops reversed, each inverted, phase negated)."""
        out = Circuit(self._num_qubits, global_phase=-self._global_phase, name=self.name)
        for op in reversed(self._ops):
            if op.is_directive:
                out.append(op)
                continue
            inv_spec, inv_params = op.spec.inverse(op.params)
            out.append(inv_spec, op.qubits, inv_params)
        return out

    def assign(self, values: Mapping[Parameter | ParameterVector, object]) -> Circuit:
        """A new circuit with parameters replaced by numbers or other expressions.

        Keys are Parameters (value: a number, Parameter or affine expression) or ParameterVectors
        (value: a sequence of those, one per element).

        Raises:
            ParameterError: a key that is not a parameter of this circuit, or a vector's values of
                the wrong length.
        """
        flat = expand_parameter_mapping(values, self.parameters, "assign")
        out = Circuit(self._num_qubits, global_phase=self._global_phase, name=self.name)
        for op in self._ops:
            out.append(op.spec, op.qubits, tuple(e.substitute(flat) for e in op.params))
        return out

    # -- identity ------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Circuit):
            return NotImplemented
        return (self._num_qubits == other._num_qubits and self._ops == other._ops
                and abs(self._global_phase - other._global_phase) < 1e-12)

    def __hash__(self) -> int:
        self._frozen = True
        return hash((self._num_qubits, tuple(self._ops), round(self._global_phase, 12)))

    def __repr__(self) -> str:
        return (f"Circuit(num_qubits={self._num_qubits}, ops={len(self._ops)}, "
                f"parameters={self.num_parameters})")

    def __str__(self) -> str:
        from qdiff.ir.drawing import draw

        return draw(self)

