"""What every Qiskit-based backend shares: validation, the public calls, autograd, retries.

A subclass supplies four batch evaluations on angle sets ``(N, A)`` (numpy, float64), each ONE
submission through :meth:`Backend._submit` (or several only where ``max_executions`` requires):
``_run_probs``, ``_run_expvals``, ``_run_samples`` and optionally ``_run_state``. This class
turns user values ``(*batch, P)`` into angles (``values @ W.T + b``, differentiated by torch),
validates everything before submitting, and wires gradients through
:class:`~qdiff.backends.autograd.BackendFunction`.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from qdiff.backends.autograd import Stencil, differentiate
from qdiff.backends.lowering import SlotCircuit, lower
from qdiff.backends.pauli_groups import Basis, estimate, plan_measurements
from qdiff.backends.stencils import SPSA, rule_stencil
from qdiff.errors import BackendError, DifferentiationError, ParameterError, QubitError, ShotsError
from qdiff.ir.circuit import Circuit
from qdiff.ir.observables import PauliSum, observables_for
from qdiff.ir.parameters import ParameterVector, expand_parameter_mapping

Method = str | SPSA
GRADIENT_METHODS = ("auto", "param_shift", "spsa")


def check_shots(shots: object, allow_none: bool = True) -> int | None:
    """``shots`` as a positive int (or ``None`` where allowed)."""
    if shots is None and allow_none:
        return None
    if isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or shots <= 0:
        raise ShotsError(f"shots must be a positive int{' or None' if allow_none else ''}, got {shots!r}")
    return int(shots)


class Backend:
    """Base class of :class:`~qdiff.AerBackend` and :class:`~qdiff.QiskitBackend`.

    Attributes:
        shots: shots per evaluation, or ``None`` (exact where the backend can be, else its default).
        seed: seed of simulators and of the transpiler, or ``None``.
        max_retries: how many times a failed or cancelled job is resubmitted.
        backoff: seconds before the first retry; doubled before each further one.
        prefetch_gradients: send the shifted evaluations with the forward job when a gradient
            will be needed (one job per training step instead of two).
        jobs_submitted: number of jobs submitted so far (retries included).
        max_executions: most ``shots * parameter sets`` per job (``None``: no limit).
    """

    max_executions: int | None = None
    exact_without_shots = False

    def __init__(self, *, shots: int | None, seed: int | None, max_retries: int, backoff: float,
                 prefetch_gradients: bool):
        self.shots = check_shots(shots)
        self.seed = None if seed is None else int(seed)
        if isinstance(max_retries, bool) or not isinstance(max_retries, numbers.Integral) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.prefetch_gradients = bool(prefetch_gradients)
        self.jobs_submitted = 0

    # -- hooks for subclasses ---------------------------------------------------------------------
    @property
    def num_qubits(self) -> int | None:
        """Qubits of the device (``None``: no limit)."""
        return None

    def _run_probs(self, slots: SlotCircuit, qubits: list[int], angles: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _run_expvals(self, slots: SlotCircuit, observables: list[PauliSum], angles: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _run_samples(self, slots: SlotCircuit, qubits: list[int], angles: np.ndarray, shots: int,
                     seed: int | None) -> np.ndarray:
        raise NotImplementedError

    def _run_bases(self, slots: SlotCircuit, bases: list[Basis], angles: np.ndarray, shots: int) -> list[np.ndarray]:
        """Measured bits of every basis circuit for every row of ``angles`` ``(N, A)``, in ONE job.

        Returns per basis ``(N, shots, len(basis))`` 0/1 (bit ``i`` = qubit ``basis[i][0]`` measured
        after its rotation); only backends that estimate expectation values from counts supply it.
        """
        raise NotImplementedError

    def _sampled_expvals(self, slots: SlotCircuit, observables: list[PauliSum], angles: np.ndarray,
                         shots: int) -> np.ndarray:
        """Expectation values ``(N, K)`` estimated from ``shots`` measurements per qubit-wise
        commuting group (:mod:`qdiff.backends.pauli_groups`): all groups and rows in one job."""
        plan = plan_measurements(observables)
        bits = self._run_bases(slots, plan.bases, angles, shots) if plan.groups else []
        return estimate(plan, bits, angles.shape[0])

    def _run_state(self, slots: SlotCircuit, angles: np.ndarray) -> np.ndarray:
        raise BackendError(f"{type(self).__name__} cannot return a statevector; use "
                           "AerBackend(method='statevector') without a noise model, or the torch simulator")

    # -- public calls -----------------------------------------------------------------------------
    def probs(self, circuit: Circuit, values: Any = None, *, qubits: Sequence[int] | None = None,
              method: Method = "auto") -> torch.Tensor:
        """Measurement probabilities ``(*batch, 2**k)`` float64, little-endian on ``qubits``.

        Args:
            circuit: a qdiff circuit no wider than the device.
            values: ``(*batch, P)`` parameter values (or a dict), ordered as ``circuit.parameters``.
            qubits: measure only these (first listed = least significant bit); default all.
            method: ``"auto"``/``"param_shift"`` (exact shift rules) or ``"spsa"``/``SPSA(...)``.
        All ``batch`` parameter sets (and, for gradients, all shifted sets) go in one job.
        """
        slots, angles, finish = self._prepare(circuit, values)
        qs = _qubit_list(qubits, circuit.num_qubits)
        stencil = self._stencil(slots, method)
        out = differentiate(angles, lambda a: _tensor(self._run_probs(slots, qs, a.detach().numpy())),
                            stencil, self.prefetch_gradients)
        return finish(out)

    def expval(self, circuit: Circuit, observables: PauliSum | Sequence[PauliSum], values: Any = None, *,
               method: Method = "auto") -> torch.Tensor:
        """Expectation values: ``(*batch,)`` for one observable, ``(*batch, K)`` for a list of K."""
        obs, single = _observables(circuit, observables)
        out = self._expvals(circuit, obs, values, method)
        return out[..., 0] if single else out

    def var(self, circuit: Circuit, observables: PauliSum | Sequence[PauliSum], values: Any = None, *,
            method: Method = "auto") -> torch.Tensor:
        """Variances ``<O^2> - <O>^2`` (both moments in one job), shaped like :meth:`expval`."""
        obs, single = _observables(circuit, observables)
        moments = self._expvals(circuit, [m for o in obs for m in (o, o @ o)], values, method)
        v = moments[..., 1::2] - moments[..., 0::2].square()
        return v[..., 0] if single else v

    def sample(self, circuit: Circuit, values: Any = None, shots: int | None = None, seed: int | None = None,
               *, qubits: Sequence[int] | None = None) -> torch.Tensor:
        """Measurement outcomes ``(*batch, shots)`` int64, little-endian, all parameter sets in one job.

        Args:
            shots: samples per parameter set (default: the backend's ``shots``, else 1024).
            seed: simulator seed for this call (default: the backend's ``seed``).
        """
        shots = check_shots(shots if shots is not None else (self.shots or 1024), allow_none=False)
        slots, angles, finish = self._prepare(circuit, values)
        qs = _qubit_list(qubits, circuit.num_qubits)
        seed = self.seed if seed is None else int(seed)
        with torch.no_grad():
            out = self._run_samples(slots, qs, angles.detach().numpy(), shots, seed)
        return finish(torch.as_tensor(np.asarray(out, dtype=np.int64)))

    def state(self, circuit: Circuit, values: Any = None) -> torch.Tensor:
        """The statevector ``(*batch, 2**n)`` complex128, where the backend can give one (no gradient)."""
        slots, angles, finish = self._prepare(circuit, values)
        with torch.no_grad():
            out = self._run_state(slots, angles.detach().numpy())
        return finish(torch.as_tensor(np.asarray(out, dtype=np.complex128)))

    # -- shared machinery -------------------------------------------------------------------------
    def _expvals(self, circuit: Circuit, obs: list[PauliSum], values: Any, method: Method) -> torch.Tensor:
        slots, angles, finish = self._prepare(circuit, values)
        stencil = self._stencil(slots, method)
        out = differentiate(angles, lambda a: _tensor(self._run_expvals(slots, obs, a.detach().numpy())),
                            stencil, self.prefetch_gradients)
        return finish(out)

    def _prepare(self, circuit: Circuit, values: Any
                 ) -> tuple[SlotCircuit, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        """Validate; lower; angles ``(B, A)`` float64 on the CPU; ``finish`` restores ``(*batch, ...)``."""
        if not isinstance(circuit, Circuit):
            raise TypeError(f"expected a qdiff Circuit, got {type(circuit).__name__}")
        limit = self.num_qubits
        if limit is not None and circuit.num_qubits > limit:
            raise BackendError(f"the circuit has {circuit.num_qubits} qubits but the device has only {limit}; "
                               "pick a larger device or a smaller circuit")
        vals, device = _values(circuit, values)
        batch = tuple(vals.shape[:-1])
        if math.prod(batch) == 0:
            raise ParameterError(f"the batch shape {batch} is empty; pass at least one set of values")
        slots = lower(circuit)
        flat = vals.reshape(math.prod(batch), vals.shape[-1]).to("cpu")
        W = torch.as_tensor(slots.weights, dtype=torch.float64)
        angles = flat @ W.T + torch.as_tensor(slots.offsets, dtype=torch.float64)

        def finish(out: torch.Tensor) -> torch.Tensor:
            return out.reshape(batch + tuple(out.shape[1:])).to(device)

        return slots, angles, finish

    def _stencil(self, slots: SlotCircuit, method: Method) -> Stencil:
        if isinstance(method, SPSA):
            return lambda: method.stencil(slots.num_slots)
        if method in ("auto", "param_shift"):
            return lambda: rule_stencil(list(enumerate(slots.rules)), slots.num_slots)
        if method == "spsa":
            spsa = SPSA()
            return lambda: spsa.stencil(slots.num_slots)
        raise DifferentiationError(
            f"method={method!r} cannot run on {type(self).__name__}: a Qiskit backend gives measured "
            f"values only, so gradients come from shifted evaluations; use one of {GRADIENT_METHODS} "
            "or qdiff.backends.SPSA(samples, epsilon)")

    def _submit(self, submit: Callable[[], Any], what: str) -> Any:
        """Run ``submit()`` (returns a job) and return its result, retrying failed jobs.

        Raises:
            BackendError: every attempt failed; carries the last job's id as ``job_id``.
        """
        job_id = None
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            job = None
            try:
                job = submit()
                self.jobs_submitted += 1
                job_id = _job_id(job)
                result = job.result()
                if getattr(result, "success", True) is False:
                    raise RuntimeError(getattr(result, "status", "the job reported failure"))
                return result
            except (TypeError, ValueError) as err:
                if job is None:  # the primitive refused the input: retrying cannot help
                    raise BackendError(f"{type(self).__name__} refused the {what} job: {err}") from err
                last = err
            except Exception as err:  # noqa: BLE001 - any job failure is retried, then reported
                last = err
        raise BackendError(f"{what} job {job_id} failed {self.max_retries + 1} time(s); last error: {last}",
                           job_id=job_id) from last

    def _chunks(self, num_rows: int, shots: int, circuits: int = 1) -> list[slice]:
        """Row ranges of a binding array so that ``circuits * rows * shots <= max_executions`` per job."""
        if self.max_executions is None or circuits * num_rows * shots <= self.max_executions:
            return [slice(0, num_rows)]
        per = max(1, self.max_executions // max(circuits * shots, 1))
        return [slice(i, min(i + per, num_rows)) for i in range(0, num_rows, per)]


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float64))  # a copy: results may be read-only views


def _job_id(job: Any) -> str | None:
    try:
        return str(job.job_id())
    except Exception:  # noqa: BLE001 - a job without an id still gets retried
        return None


def _values(circuit: Circuit, values: Any) -> tuple[torch.Tensor, torch.device]:
    """Values as a float64 ``(*batch, P)`` tensor, and the device results go back to."""
    P = circuit.num_parameters
    if values is None:
        if P:
            raise ParameterError(f"the circuit has {P} parameter(s) but no values were given; pass a "
                                 f"tensor of shape (..., {P}) ordered as circuit.parameters")
        return torch.zeros(0, dtype=torch.float64), torch.device("cpu")
    if isinstance(values, Mapping):
        tensors = {k: (torch.as_tensor(np.asarray(v)) if isinstance(k, ParameterVector) and
                       not isinstance(v, torch.Tensor) else v) for k, v in values.items()}
        flat = expand_parameter_mapping(tensors, circuit.parameters, "values")
        missing = [p.name for p in circuit.parameters if p not in flat]
        if missing:
            raise ParameterError(f"missing values for parameter(s) {missing}")
        cols = [torch.as_tensor(flat[p]).to(torch.float64) for p in circuit.parameters]
        values = torch.stack(torch.broadcast_tensors(*cols), dim=-1) if cols else torch.zeros(0)
    t = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values, dtype=float))
    if t.is_complex():
        raise ParameterError("parameter values must be real, got a complex tensor")
    if t.dim() == 0 or t.shape[-1] != P:
        got = "a scalar" if t.dim() == 0 else f"shape {tuple(t.shape)}"
        raise ParameterError(f"values must have shape (..., {P}) for a circuit with {P} parameter(s), got {got}")
    return t.to(torch.float64), t.device


def _qubit_list(qubits: Sequence[int] | int | None, n: int) -> list[int]:
    if qubits is None:
        return list(range(n))
    qs = [qubits] if isinstance(qubits, numbers.Integral) else list(qubits)
    for q in qs:
        if isinstance(q, bool) or not isinstance(q, numbers.Integral) or not 0 <= q < n:
            raise QubitError(f"qubit {q!r} is out of range for a circuit of {n} qubit(s)")
    if len(set(qs)) != len(qs) or not qs:
        raise QubitError(f"qubits {qs} must be distinct and non-empty")
    return [int(q) for q in qs]


def _observables(circuit: Circuit, observables: PauliSum | Sequence[PauliSum]) -> tuple[list[PauliSum], bool]:
    return observables_for(observables, circuit.num_qubits)
