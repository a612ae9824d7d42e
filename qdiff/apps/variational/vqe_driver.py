"""The VQE driver: minimise ``<psi(theta)|H|psi(theta)>`` on any backend, with any gradient
method and any torch optimizer (L-BFGS by default), exactly or from shots.

>>> from qdiff.apps.variational import hva_tfim, tfim, vqe
>>> result = vqe(tfim(4, h=1.0), hva_tfim(4, 2), steps=30)
>>> result.relative_error < 1e-6
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from qdiff.errors import ParameterError
from qdiff.execute import expval, state
from qdiff.ir.circuit import Circuit
from qdiff.ir.observables import PauliSum

from qdiff.apps.variational.exact import GroundState, ground_state
from qdiff.apps.variational.hamiltonians import check_hamiltonian
from qdiff.apps.variational.sampled import SampledEnergy

OPTIMIZERS = ("lbfgs", "adam")
EXACT_MAX_QUBITS = 20


class Energy:
    """``values (P,) -> <H>`` (a differentiable scalar) on the chosen backend.

    Args:
        circuit, hamiltonian: the ansatz and a Hermitian PauliSum on at most its qubits.
        backend: ``None`` (torch simulator) or a :mod:`qdiff.backends` object.
        method: gradient engine (``"auto"``: adjoint on the simulator, parameter shift on Qiskit).
        shots: ``None`` for exact expectation values; on the torch simulator, samples per
            measurement group (see :class:`SampledEnergy`); with a backend, set its shots instead.
        seed: seed of the sampling generator.
    Raises:
        ObservableError: a non-Hermitian Hamiltonian or one wider than the circuit.
    """

    def __init__(self, circuit: Circuit, hamiltonian: PauliSum, *, backend: object = None, method: str = "auto",
                 shots: int | None = None, seed: int = 0):
        self.hamiltonian = check_hamiltonian(hamiltonian, circuit.num_qubits)
        self.circuit = circuit
        self.backend = backend
        self.method = method
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots <= 0):
            raise ParameterError(f"shots must be a positive int or None (exact), got {shots!r}")
        if shots is not None and backend is not None:
            raise ParameterError("with backend=, give the shots to the backend (e.g. AerBackend(shots=...)), "
                                 "not to the energy")
        self.shots = shots
        self.generator = torch.Generator().manual_seed(int(seed))
        self.sampled = SampledEnergy(circuit, self.hamiltonian, shots, self.generator) if shots else None

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        if self.sampled is not None:
            return self.sampled(values)
        return expval(self.circuit, self.hamiltonian, values, method=self.method, backend=self.backend)

    @torch.no_grad()
    def exact(self, values: torch.Tensor) -> float:
        """The exact energy on the torch simulator (whatever the backend)."""
        return float(expval(self.circuit, self.hamiltonian, values.detach()))

    @torch.no_grad()
    def state(self, values: torch.Tensor) -> torch.Tensor:
        """The ansatz state on the torch simulator ``(2**n,)``."""
        return state(self.circuit, values.detach())


class Minimizer:
    """Minimises a scalar function of a parameter vector one optimizer step at a time, with the
    state needed to checkpoint and resume (:meth:`state_dict`).

    Args:
        objective: ``values (P,) -> scalar tensor`` with gradients.
        values: initial values ``(P,)`` float64.
        optimizer: ``"lbfgs"`` (exact gradients; strong-Wolfe line search, one iteration per step),
            ``"adam"``, or a ``torch.optim.Optimizer`` class (called as ``cls([values], lr=lr)``).
        lr: learning rate (Adam default 0.05; L-BFGS initial step default 1).
    """

    def __init__(self, objective: Callable[[torch.Tensor], torch.Tensor], values: torch.Tensor,
                 optimizer: str | type = "lbfgs", lr: float | None = None):
        self.objective = objective
        self.values = values.detach().clone().to(torch.float64).requires_grad_(True)
        if optimizer == "lbfgs":
            # max_eval bounds the line search; torch's default for max_iter=1 would allow none
            self.optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
                [self.values], lr=1.0 if lr is None else lr, max_iter=1, max_eval=25, history_size=50,
                line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
        elif optimizer == "adam":
            self.optimizer = torch.optim.Adam([self.values], lr=0.05 if lr is None else lr)
        elif isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer([self.values], **({} if lr is None else {"lr": lr}))
        else:
            raise ParameterError(f"unknown optimizer {optimizer!r}; use 'lbfgs', 'adam' or a torch.optim class")
        self.step_count = 0
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _closure(self) -> torch.Tensor:
        if self._cache is not None and torch.equal(self._cache[0], self.values.detach()):
            self.values.grad = self._cache[2].clone()
            return self._cache[1]
        self.optimizer.zero_grad()
        loss = self.objective(self.values)
        loss.backward()
        loss = loss.detach()
        self._cache = (self.values.detach().clone(), loss, self.values.grad.detach().clone())
        return loss

    def step(self) -> float:
        """One optimizer step; returns the objective before it."""
        loss = float(self.optimizer.step(self._closure))
        if not isinstance(self.optimizer, torch.optim.LBFGS):
            self._cache = None
        self.step_count += 1
        return loss

    def state_dict(self) -> dict[str, Any]:
        """Values, optimizer state and step."""
        return {"values": self.values.detach().clone(), "optimizer": self.optimizer.state_dict(),
                "step": self.step_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the values' shape is checked)."""
        values = torch.as_tensor(state["values"])
        if values.shape != self.values.shape:
            raise ParameterError(f"checkpoint has {tuple(values.shape)} values, the ansatz {tuple(self.values.shape)}")
        with torch.no_grad():
            self.values.copy_(values)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = int(state["step"])
        self._cache = None


@dataclass
class VQEResult:
    """Outcome of :func:`vqe`. ``energy``: exact energy of the final parameters (torch simulator);
    ``estimate``: the objective's last value on the chosen backend / shots; ``error`` =
    ``energy - exact_energy``; ``fidelity`` with the exact ground state (``None`` when too large)."""

    energy: float
    estimate: float
    exact_energy: float | None
    error: float | None
    relative_error: float | None
    fidelity: float | None
    values: torch.Tensor
    steps: int
    history: list[float] = field(default_factory=list)


def reference(hamiltonian: PauliSum, num_qubits: int, particles: int | None = None) -> GroundState | None:
    """The exact ground state when the system is small enough (``None`` above 20 qubits)."""
    if num_qubits > EXACT_MAX_QUBITS:
        return None
    return ground_state(hamiltonian, num_qubits=num_qubits, particles=particles)


def summarize(energy: Energy, values: torch.Tensor, estimate: float, exact: GroundState | float | None,
              steps: int, history: list[float]) -> VQEResult:
    """A :class:`VQEResult` for ``values``, compared with ``exact`` (a GroundState or an energy)."""
    e = energy.exact(values)
    exact_energy = exact.energy if isinstance(exact, GroundState) else exact
    fid = exact.fidelity(energy.state(values)) if isinstance(exact, GroundState) else None
    err = None if exact_energy is None else e - exact_energy
    rel = None if err is None else abs(err) / max(abs(exact_energy), 1e-300)
    return VQEResult(e, estimate, exact_energy, err, rel, fid, values.detach().clone(), steps, history)


def vqe(hamiltonian: PauliSum, circuit: Circuit, *, values: torch.Tensor | None = None, steps: int = 200,
        optimizer: str | type = "lbfgs", lr: float | None = None, backend: object = None, method: str = "auto",
        shots: int | None = None, seed: int = 0, exact: GroundState | float | None | str = "auto",
        tol: float = 1e-12, callback: Callable[[int, float], None] | None = None) -> VQEResult:
    """Variational ground-state search.

    Args:
        hamiltonian: Hermitian PauliSum on at most ``circuit.num_qubits`` qubits.
        circuit: the ansatz.
        values: initial parameters ``(P,)``; default uniform in ``[-0.1, 0.1]`` (seeded).
        steps: optimizer steps; stops early when L-BFGS moves the energy by less than ``tol``.
        optimizer, lr: see :class:`Minimizer` (with ``shots``, ``"adam"`` is required).
        backend, method, shots, seed: see :class:`Energy`.
        exact: the reference: ``"auto"`` (exact diagonalisation up to 20 qubits), a GroundState,
            an energy, or ``None``.
        callback: called as ``callback(step, energy)`` after each step.
    Raises:
        ObservableError: a bad Hamiltonian; ParameterError: bad values, shots or optimizer --
        all before the first circuit evaluation.
    """
    if steps < 0:
        raise ParameterError(f"steps must be >= 0, got {steps}")
    if (shots is not None or backend is not None) and optimizer == "lbfgs":
        raise ParameterError("L-BFGS needs exact gradients; with shots or a backend use optimizer='adam'")
    objective = Energy(circuit, hamiltonian, backend=backend, method=method, shots=shots, seed=seed)
    P = circuit.num_parameters
    if values is None:
        g = torch.Generator().manual_seed(int(seed))
        values = (torch.rand(P, generator=g, dtype=torch.float64) - 0.5) * 0.2
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.shape != (P,):
        raise ParameterError(f"values must have shape ({P},) for this ansatz, got {tuple(values.shape)}")
    ref = reference(objective.hamiltonian, circuit.num_qubits) if exact == "auto" else exact
    minimizer = Minimizer(objective, values, optimizer, lr)
    history: list[float] = []
    for k in range(steps):
        history.append(minimizer.step())
        if callback is not None:
            callback(k + 1, history[-1])
        if optimizer == "lbfgs" and len(history) > 3 and abs(history[-1] - history[-4]) < tol:
            break
    estimate = float(objective(minimizer.values).detach()) if history or steps == 0 else math.nan
    history.append(estimate)
    return summarize(objective, minimizer.values, estimate, ref, minimizer.step_count, history)
