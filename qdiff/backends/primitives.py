"""``QiskitBackend``: qdiff circuits through Qiskit's V2 primitives (Estimator and Sampler).

The target is a V2 Estimator or Sampler (Aer's, ``StatevectorEstimator``/``StatevectorSampler``,
qiskit-ibm-runtime's ``executor_estimator.Estimator``/``executor_sampler.Sampler`` in any mode), or
a device (an IBM backend, a fake backend for local testing) for which those runtime primitives are
built here. A circuit is transpiled ONCE to the device's ISA with ``generate_preset_pass_manager``
and cached per (circuit, backend); observables follow the final layout (``SparsePauliOp.apply_layout``), and
measurements keep the circuit's qubit order in their classical bits. Each call is one PUB: the
circuit, the observables ``(1, K)`` and a binding array ``(N, 1, A)`` (Estimator) or ``(N, A)``
(Sampler), whose columns follow the transpiled circuit's own parameter order by name.

With a Sampler and no Estimator, expectation values are estimated from counts: one PUB per
qubit-wise commuting group of Pauli strings (basis rotations before the measurement), all in one
job (:mod:`qdiff.backends.pauli_groups`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from qdiff.backends._qiskit import (AngleBounds, bind_array, bitarray_bits, bits_to_ints, counts_to_probs,
                                    logical_circuit, require)
from qdiff.backends.base import Backend
from qdiff.backends.lowering import SlotCircuit
from qdiff.backends.pauli_groups import Basis
from qdiff.errors import BackendError
from qdiff.ir.observables import PauliSum

SAMPLER_MAX_EXECUTIONS = 10_000_000
"""IBM's limit of shots x circuits per Sampler job (Estimator jobs are split by the service)."""
_tokens = itertools.count()


class QiskitBackend(Backend):
    """Run circuits through Qiskit V2 primitives or on a device.

    Args:
        target: a V2 Estimator or Sampler, or a ``BackendV2`` (IBM or fake device).
        shots: shots per parameter set (Estimator precision ``1/sqrt(shots)``; with a Sampler alone,
            shots per measured group); ``None``: the primitive's default.
        optimization_level: of the preset pass manager (0 to 3).
        seed: transpiler seed, and simulator seed of the primitives built here.
        max_retries: resubmissions of a failed or cancelled job before :class:`qdiff.BackendError`.
        backoff: seconds before the first retry, doubled each time.
        mode: a runtime ``Session`` or ``Batch`` for the primitives built for a device target.
        estimator, sampler: a second primitive to pair with ``target``.
        max_executions: most ``shots x parameter sets`` per Sampler job; default IBM's 10 million
            for runtime primitives, no limit otherwise. Larger batches are split.
        prefetch_gradients: see :class:`~qdiff.backends.base.Backend`.

    >>> import qdiff
    >>> from qiskit.primitives import StatevectorEstimator
    >>> backend = qdiff.QiskitBackend(StatevectorEstimator())
    >>> round(float(qdiff.expval(qdiff.Circuit(1).ry(0.5, 0), qdiff.Z(0), backend=backend)), 6)
    0.877583
    """

    def __init__(self, target: Any, *, shots: int | None = None, optimization_level: int = 2,
                 seed: int | None = None, max_retries: int = 3, backoff: float = 1.0, mode: Any = None,
                 estimator: Any = None, sampler: Any = None, max_executions: int | None | str = "auto",
                 prefetch_gradients: bool = True):
        super().__init__(shots=shots, seed=seed, max_retries=max_retries, backoff=backoff,
                         prefetch_gradients=prefetch_gradients)
        base = require("qiskit.primitives", "QiskitBackend")
        providers = require("qiskit.providers", "QiskitBackend")
        self.estimator, self.sampler, self.device = estimator, sampler, None
        if isinstance(target, base.BaseEstimatorV2):
            self.estimator = target
        elif isinstance(target, base.BaseSamplerV2):
            self.sampler = target
        elif isinstance(target, providers.BackendV2):
            self.device = target
            # the client-side primitives: qiskit-ibm-runtime 0.50 deprecated its EstimatorV2/SamplerV2
            estimators = require("qiskit_ibm_runtime.executor_estimator", "QiskitBackend")
            samplers = require("qiskit_ibm_runtime.executor_sampler", "QiskitBackend")
            self.estimator = estimator or estimators.Estimator(mode=mode or target)
            self.sampler = sampler or samplers.Sampler(mode=mode or target)
            if seed is not None:
                for primitive in (self.estimator, self.sampler):
                    if not _is_local(target):
                        break
                    primitive.options.simulator.seed_simulator = int(seed)
        else:
            raise TypeError(f"QiskitBackend needs a V2 Estimator, a V2 Sampler or a BackendV2, got "
                            f"{type(target).__name__} (V1 primitives are not supported)")
        if self.device is None:
            self.device = _backend_of(self.estimator) or _backend_of(self.sampler)
        runtime_made = any(type(p).__module__.startswith("qiskit_ibm_runtime") for p in (self.estimator, self.sampler)
                           if p is not None)
        self.max_executions = (SAMPLER_MAX_EXECUTIONS if runtime_made else None) if max_executions == "auto" \
            else max_executions  # type: ignore[assignment]
        self.optimization_level = optimization_level
        self._pass_manager: Any = None
        self._token = next(_tokens)

    @property
    def num_qubits(self) -> int | None:
        return None if self.device is None else int(self.device.num_qubits)

    def __repr__(self) -> str:
        kinds = [k for k, p in (("estimator", self.estimator), ("sampler", self.sampler)) if p is not None]
        where = getattr(self.device, "name", None)
        return f"QiskitBackend({'+'.join(kinds)}{f' on {where}' if where else ''}, shots={self.shots})"

    # -- transpilation ----------------------------------------------------------------------------
    def _isa(self, slots: SlotCircuit, measured: Basis | None) -> tuple[Any, AngleBounds]:
        """The ISA circuit, measuring ``measured`` (see :func:`add_measurements`) when given; once per
        circuit, measurement and backend."""
        cache = slots.circuit._derived("qiskit_isa", lambda c: {})
        key = (self._token, measured)
        if key not in cache:
            qc = logical_circuit(slots, measured, "QiskitBackend")
            if self.device is not None:
                if self._pass_manager is None:
                    transpiler = require("qiskit.transpiler", "QiskitBackend")
                    self._pass_manager = transpiler.generate_preset_pass_manager(
                        optimization_level=self.optimization_level, backend=self.device,
                        seed_transpiler=self.seed)
                qc = self._pass_manager.run(qc)
            cache[key] = (qc, AngleBounds(qc, getattr(self.device, "target", None)))
        return cache[key]

    def _bind(self, qc: Any, bounds: AngleBounds, angles: np.ndarray) -> np.ndarray:
        bound = bind_array(qc, angles)
        bounds.check(bound)
        return bound

    # -- evaluations ------------------------------------------------------------------------------
    def _run_expvals(self, slots: SlotCircuit, observables: list[PauliSum], angles: np.ndarray) -> np.ndarray:
        if self.estimator is None:
            if self.sampler is None:  # pragma: no cover - the constructor always sets one
                raise BackendError("expectation values need an Estimator or a Sampler")
            return self._sampled_expvals(slots, observables, angles, self.shots or _default_shots(self.sampler))
        from qdiff.interop._paulis import to_sparse_pauli_op

        qc, bounds = self._isa(slots, None)
        n = slots.circuit.num_qubits
        ops = []
        for o in observables:
            op = to_sparse_pauli_op(o, n)
            op = type(op)(op.paulis, op.coeffs.real)  # Hermitian: real coefficients
            ops.append(op.apply_layout(qc.layout) if getattr(qc, "layout", None) is not None else op)
        bound = self._bind(qc, bounds, angles)
        N = angles.shape[0]
        values = bound[:, None, :] if qc.parameters else None
        pub = (qc, [ops]) if values is None else (qc, [ops], values)
        precision = None if self.shots is None else 1 / math.sqrt(self.shots)
        result = self._submit(lambda: self.estimator.run([pub], precision=precision), "Estimator")
        evs = np.asarray(result[0].data.evs, dtype=float).reshape(-1, len(ops))
        return np.broadcast_to(evs, (N, len(ops))) if values is None else evs

    def _run_bases(self, slots: SlotCircuit, bases: list[Basis], angles: np.ndarray, shots: int) -> list[np.ndarray]:
        """One Sampler job, one PUB per basis with all ``N`` rows (split only at ``max_executions``)."""
        self._need_sampler()
        circuits = [self._isa(slots, basis) for basis in bases]
        bound = [self._bind(qc, b, angles) for qc, b in circuits]
        N = angles.shape[0]
        if not circuits[0][0].parameters:  # no angles: every row is the same circuit
            result = self._submit(lambda: self.sampler.run([(qc,) for qc, _ in circuits], shots=shots * N),
                                  "Sampler")
            return [bitarray_bits(r.data.meas).reshape(N, shots, len(basis)) for r, basis in zip(result, bases)]
        parts: list[list[np.ndarray]] = [[] for _ in bases]
        for rows in self._chunks(N, shots, len(bases)):
            pubs = [(qc, b[rows]) for (qc, _), b in zip(circuits, bound)]
            result = self._submit(lambda: self.sampler.run(pubs, shots=shots), "Sampler")
            for part, r in zip(parts, result):
                part.append(bitarray_bits(r.data.meas))
        return [np.concatenate(part) for part in parts]

    def _run_samples(self, slots: SlotCircuit, qubits: list[int], angles: np.ndarray, shots: int,
                     seed: int | None) -> np.ndarray:
        self._need_sampler()
        qc, bounds = self._isa(slots, tuple((q, "Z") for q in qubits))
        bound = self._bind(qc, bounds, angles)
        N = angles.shape[0]
        if not qc.parameters:
            bits = self._submit(lambda: self.sampler.run([(qc,)], shots=shots * N), "Sampler")[0].data.meas
            return bits_to_ints(bits).reshape(N, shots)
        out = []
        for rows in self._chunks(N, shots):
            result = self._submit(lambda: self.sampler.run([(qc, bound[rows])], shots=shots), "Sampler")
            out.append(bits_to_ints(result[0].data.meas))
        return np.concatenate(out)

    def _run_probs(self, slots: SlotCircuit, qubits: list[int], angles: np.ndarray) -> np.ndarray:
        shots = self.shots or _default_shots(self.sampler)
        return counts_to_probs(self._run_samples(slots, qubits, angles, shots, self.seed), len(qubits))

    def _need_sampler(self) -> None:
        if self.sampler is None:
            raise BackendError("probabilities and samples need a Sampler: pass a V2 Sampler (or a device) as "
                               "QiskitBackend's target, or sampler=... next to an Estimator")


def _is_local(device: Any) -> bool:
    return not type(device).__module__.startswith("qiskit_ibm_runtime.ibm_backend")


def _backend_of(primitive: Any) -> Any:
    """The backend a primitive runs on (runtime, Aer and ``Backend*V2`` primitives), else ``None``."""
    if primitive is None:
        return None
    found = getattr(primitive, "backend", None) or getattr(primitive, "_backend", None)
    if callable(found) and not hasattr(found, "target"):
        found = found()
    if found is None or not hasattr(found, "target"):
        return None
    return found


def _default_shots(sampler: Any) -> int:
    for holder in (sampler, getattr(sampler, "options", None)):
        shots = getattr(holder, "default_shots", None) or getattr(holder, "_default_shots", None)
        if isinstance(shots, int) and shots > 0:
            return shots
    return 1024
