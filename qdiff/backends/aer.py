"""``AerBackend``: qdiff circuits on qiskit-aer's ``AerSimulator``, exact or with shots and noise.

Each call builds at most one Aer job: the circuit is transpiled once (cached per circuit and
backend), save instructions (``save_probabilities``, ``save_expectation_value``,
``save_statevector``) or measurements are added on the physical qubits that hold the circuit's
qubits, and all parameter sets are bound with ``parameter_binds`` in a single ``run``.

With ``shots=None`` results are exact: probabilities, expectation values and the statevector
come from save instructions (a noise model then needs ``method="density_matrix"``). With
``shots`` set, everything comes from measured counts, as on a device: ``probs`` and ``sample``
from the measured bits, and ``expval``/``var`` from ``shots`` measurements of every qubit-wise
commuting group of Pauli strings (:mod:`qdiff.backends.pauli_groups`), all groups and parameter
sets in one Aer run; the shot noise is about ``sum_t |c_t| / sqrt(shots)`` or less.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from qdiff.backends._qiskit import bind_array, counts_to_probs, logical_circuit, positions, require
from qdiff.backends.base import Backend
from qdiff.backends.lowering import SlotCircuit
from qdiff.backends.pauli_groups import Basis, bits_of_ints
from qdiff.errors import BackendError
from qdiff.ir.observables import PauliSum

METHODS = ("statevector", "density_matrix", "matrix_product_state")
_tokens = itertools.count()


class AerBackend(Backend):
    """Run circuits on qiskit-aer's ``AerSimulator``.

    Args:
        method: ``"statevector"``, ``"density_matrix"`` or ``"matrix_product_state"``.
        shots: ``None`` for exact results (save instructions), or shots per parameter set: then
            probabilities, samples, expectation values and variances are all estimated from counts
            (for ``expval``/``var``, ``shots`` per qubit-wise commuting group of Pauli strings).
        noise_model: a ``qiskit_aer.noise.NoiseModel`` (exact noisy runs need ``density_matrix``).
        device: ``"CPU"`` or ``"GPU"`` (needs the ``qiskit-aer-gpu`` build).
        precision: ``"double"`` or ``"single"``.
        seed: simulator and transpiler seed.
        blocking_enable: Aer's cache blocking (chunked statevector for several GPUs or MPI ranks).
        blocking_qubits: chunk size in qubits when ``blocking_enable`` (required then).
        optimization_level: transpiler level (0 to 3).
        max_retries, backoff, prefetch_gradients: see :class:`~qdiff.backends.base.Backend`.
        simulator_options: further ``AerSimulator`` options (e.g. ``max_parallel_threads``).

    >>> import torch, qdiff
    >>> c = qdiff.Circuit(2).h(0).cx(0, 1)
    >>> qdiff.probs(c, backend=qdiff.AerBackend()).round(decimals=6).tolist()
    [0.5, 0.0, 0.0, 0.5]
    """

    exact_without_shots = True

    def __init__(self, method: str = "statevector", shots: int | None = None, noise_model: Any = None,
                 device: str = "CPU", precision: str = "double", seed: int | None = None,
                 blocking_enable: bool = False, blocking_qubits: int | None = None, *,
                 optimization_level: int = 1, max_retries: int = 3, backoff: float = 0.5,
                 prefetch_gradients: bool = True, **simulator_options: Any):
        super().__init__(shots=shots, seed=seed, max_retries=max_retries, backoff=backoff,
                         prefetch_gradients=prefetch_gradients)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if device not in ("CPU", "GPU"):
            raise ValueError(f"device must be 'CPU' or 'GPU', got {device!r}")
        if precision not in ("double", "single"):
            raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
        if blocking_enable and blocking_qubits is None:
            raise ValueError("blocking_enable=True needs blocking_qubits (the chunk size in qubits, e.g. 23 "
                             "for 16 GiB GPUs in double precision); see docs/hardware.md")
        if noise_model is not None and shots is None and method == "statevector":
            raise BackendError("exact noisy results need method='density_matrix' (the statevector method "
                               "samples noise trajectories): pass method='density_matrix' or shots=...")
        self.method, self.device, self.precision = method, device, precision
        self.noise_model = noise_model
        self.optimization_level = optimization_level
        self._options = dict(method=method, device=device, precision=precision, noise_model=noise_model,
                             blocking_enable=blocking_enable, **simulator_options)
        if blocking_enable:
            self._options["blocking_qubits"] = int(blocking_qubits)  # type: ignore[arg-type]
        self._device_backend: Any = None
        self._simulator: Any = None
        self._pass_manager: Any = None
        self._token = next(_tokens)

    @classmethod
    def from_backend(cls, backend: Any, method: str | None = None, shots: int | None = None,
                     **options: Any) -> AerBackend:
        """An Aer simulation of a device: its noise model, coupling map and basis gates.

        Args:
            backend: a ``BackendV2`` (an IBM fake backend such as ``FakeManilaV2()``, or a real one).
            method: default ``"density_matrix"`` when ``shots`` is ``None`` (exact noisy
                results), else ``"statevector"``.
            shots, options: as :class:`AerBackend`.
        """
        aer = require("qiskit_aer", "AerBackend.from_backend")
        noise = require("qiskit_aer.noise", "AerBackend.from_backend")
        method = method or ("density_matrix" if shots is None else "statevector")
        self = cls(method=method, shots=shots, noise_model=noise.NoiseModel.from_backend(backend), **options)
        self._simulator = aer.AerSimulator.from_backend(backend, **self._options)
        self._device_backend = backend
        return self

    @property
    def simulator(self) -> Any:
        """The ``qiskit_aer.AerSimulator`` this backend runs (built on first use)."""
        if self._simulator is None:
            aer = require("qiskit_aer", "AerBackend")
            options = {k: v for k, v in self._options.items() if v is not None}
            self._simulator = aer.AerSimulator(**options)
        return self._simulator

    @property
    def num_qubits(self) -> int | None:
        return None if self._device_backend is None else int(self._device_backend.num_qubits)

    def __repr__(self) -> str:
        where = f", from={self._device_backend.name}" if self._device_backend is not None else ""
        return f"AerBackend(method={self.method!r}, shots={self.shots}, device={self.device!r}{where})"

    # -- transpilation ----------------------------------------------------------------------------
    def _isa(self, slots: SlotCircuit, measured: Basis | None = None) -> Any:
        """The circuit transpiled for the simulator, measuring ``measured`` (see
        :func:`~qdiff.backends._qiskit.add_measurements`) when given; once per (circuit,
        measurement, backend). Basis rotations are transpiled too: a device model's simulator
        knows only the device's gates."""
        cache = slots.circuit._derived("aer_isa", lambda c: {})
        key = (self._token, measured)
        if key not in cache:
            transpiler = require("qiskit.transpiler", "AerBackend")
            if self._pass_manager is None:
                self._pass_manager = transpiler.generate_preset_pass_manager(
                    optimization_level=self.optimization_level, backend=self.simulator,
                    seed_transpiler=self.seed)
            cache[key] = self._pass_manager.run(logical_circuit(slots, measured, "AerBackend"))
        return cache[key]

    def _run(self, qc: Any, angles: np.ndarray, shots: int, seed: int | None, memory: bool = False) -> list[dict]:
        """One Aer job for all rows of ``angles`` ``(N, A)``; per-row result data."""
        return self._run_many([qc], angles, shots, seed, memory)[0]

    def _run_many(self, circuits: list[Any], angles: np.ndarray, shots: int, seed: int | None,
                  memory: bool = False) -> list[list[dict]]:
        """One Aer job for every circuit (same parameters) and every row of ``angles`` ``(N, A)``;
        per circuit, per-row result data."""
        N = angles.shape[0]
        kwargs: dict[str, Any] = dict(shots=shots, memory=memory)
        if seed is not None:
            kwargs["seed_simulator"] = seed
        bound = circuits[0].parameters
        if bound:
            kwargs["parameter_binds"] = [
                {p: col.tolist() for p, col in zip(qc.parameters, bind_array(qc, angles).T)} for qc in circuits]
        result = self._submit(lambda: self.simulator.run(circuits, **kwargs), "Aer")
        per = N if bound else 1
        if len(result.results) != per * len(circuits):
            raise BackendError(f"Aer returned {len(result.results)} result(s) for {N} parameter set(s) of "
                               f"{len(circuits)} circuit(s); the circuit has gates whose parameters it did not "
                               f"bind: {sorted(circuits[0].count_ops())}")
        rows = [result.data(i) for i in range(len(result.results))]
        return [rows[i * per:(i + 1) * per] * (1 if bound else N) for i in range(len(circuits))]

    # -- the four evaluations ---------------------------------------------------------------------
    def _run_probs(self, slots: SlotCircuit, qubits: list[int], angles: np.ndarray) -> np.ndarray:
        if self.shots is not None:
            return counts_to_probs(self._run_samples(slots, qubits, angles, self.shots, self.seed), len(qubits))
        qc = self._isa(slots).copy()
        pos = positions(qc, slots.circuit.num_qubits)
        qc.save_probabilities([pos[q] for q in qubits], label="probs")
        return np.stack([np.asarray(r["probs"], dtype=float) for r in self._run(qc, angles, 1, self.seed)])

    def _run_expvals(self, slots: SlotCircuit, observables: list[PauliSum], angles: np.ndarray) -> np.ndarray:
        if self.shots is not None:  # estimated from counts, like a device
            return self._sampled_expvals(slots, observables, angles, self.shots)
        from qdiff.interop._paulis import to_sparse_pauli_op

        qc = self._isa(slots).copy()
        n = slots.circuit.num_qubits
        pos = positions(qc, n)
        for k, o in enumerate(observables):
            op = to_sparse_pauli_op(o, n)
            op = type(op)(op.paulis, op.coeffs.real)  # Hermitian: real coefficients
            qc.save_expectation_value(op, pos[:n], label=f"e{k}")
        rows = self._run(qc, angles, 1, self.seed)
        return np.array([[float(np.real(r[f"e{k}"])) for k in range(len(observables))] for r in rows])

    def _run_bases(self, slots: SlotCircuit, bases: list[Basis], angles: np.ndarray, shots: int) -> list[np.ndarray]:
        """All basis circuits and all rows in one Aer run (``memory=True``: every shot's bits)."""
        results = self._run_many([self._isa(slots, b) for b in bases], angles, shots, self.seed, memory=True)
        return [bits_of_ints(_outcomes(rows), len(b)) for rows, b in zip(results, bases)]

    def _run_samples(self, slots: SlotCircuit, qubits: list[int], angles: np.ndarray, shots: int,
                     seed: int | None) -> np.ndarray:
        qc = self._isa(slots, tuple((q, "Z") for q in qubits))
        return _outcomes(self._run(qc, angles, shots, seed, memory=True))

    def _run_state(self, slots: SlotCircuit, angles: np.ndarray) -> np.ndarray:
        qc = self._isa(slots).copy()
        n = slots.circuit.num_qubits
        if self.method != "statevector" or self.noise_model is not None or self.shots is not None \
                or qc.num_qubits != n or positions(qc, n) != list(range(n)):
            raise BackendError("AerBackend.state needs method='statevector', shots=None, no noise model and "
                               "no device layout (AerBackend(), not AerBackend.from_backend)")
        qc.save_statevector(label="psi")
        return np.stack([np.asarray(r["psi"], dtype=complex) for r in self._run(qc, angles, 1, self.seed)])


def _outcomes(rows: list[dict]) -> np.ndarray:
    """Per-shot outcomes ``(N, shots)`` int64 from the ``memory`` (hex strings) of each row."""
    return np.array([[int(h, 16) for h in r["memory"]] for r in rows], dtype=np.int64)
