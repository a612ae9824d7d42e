"""Small training loops for the hybrid model and its baselines: exact maximum likelihood (Adam on
minibatches of the NLL) and shot-based training (Adam on the sampled MMD objective).

Both keep every piece of state needed to resume exactly (parameters, optimizer, the data-order
generator, the step) in :meth:`state_dict`.

>>> import torch
>>> from qdiff.apps.hybrid import HybridBornFlow, NoisyBAS, conditional_realnvp
>>> from qdiff.apps.qcbm import BornMachine, born_circuit
>>> x, _ = NoisyBAS(1, 2).sample(64, seed=0)
>>> model = HybridBornFlow(BornMachine(born_circuit(2, 1, [(0, 1)]), seed=0), conditional_realnvp(2, 2, 8, unit_box=True))
>>> trainer = NLLTrainer(model, x, batch=32, lr=1e-2)
>>> first = trainer.step()["loss"]; _ = [trainer.step() for _ in range(20)]
>>> trainer.step()["loss"] < first
True
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from qdiff.apps.hybrid.kernels import RBFMixture
from qdiff.apps.hybrid.model import HybridBornFlow
from qdiff.apps.hybrid.sampled import sampled_mmd_objective


def _groups(model: nn.Module, lr: float, circuit_lr: float | None) -> list[dict[str, Any]]:
    """Adam parameter groups: circuit weights (``prior.weights``, if any) at ``circuit_lr``, the rest at ``lr``."""
    prior = getattr(model, "prior", None)
    circuit = [prior.weights] if prior is not None else []
    ids = {id(p) for p in circuit}
    rest = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    groups = [{"params": rest, "lr": lr, "initial_lr": lr}] if rest else []
    if circuit:
        c_lr = lr if circuit_lr is None else circuit_lr
        groups.append({"params": circuit, "lr": c_lr, "initial_lr": c_lr})
    return groups


class _Adam:
    """Adam with a per-step learning-rate factor and a seeded data-order generator."""

    def __init__(self, model: nn.Module, lr: float, circuit_lr: float | None, lr_decay: float, seed: int):
        if not lr > 0 or (circuit_lr is not None and not circuit_lr > 0):
            raise ValueError(f"learning rates must be positive, got lr={lr}, circuit_lr={circuit_lr}")
        if not 0 < lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
        self.model = model
        self.optimizer = torch.optim.Adam(_groups(model, lr, circuit_lr))
        self.lr_decay = lr_decay
        self.generator = torch.Generator().manual_seed(int(seed))
        self.step_count = 0

    def _apply(self, loss: Tensor) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {float(loss)} at step {self.step_count + 1}; "
                                     f"lower the learning rate")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * self.lr_decay**self.step_count

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer and generator state and the step: everything to continue exactly."""
        return {"step": self.step_count, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step_count = int(state["step"])


class NLLTrainer(_Adam):
    """Adam on the exact negative log-likelihood ``-mean ln p(x)`` of minibatches of ``data``.

    Args:
        model: anything with ``log_prob(x (B, D)) -> (B,)`` (the hybrid, a flow, a discretised Born machine).
        data: training rows ``(N, D)``.
        batch: rows per step (``None``: all of them every step).
        lr: Adam learning rate of the classical parameters; ``circuit_lr`` that of the circuit
            weights (default: ``lr``); both decay by ``lr_decay`` per step.
        seed: seed of the minibatch order.
    """

    def __init__(self, model: nn.Module, data: Tensor, batch: int | None = 256, lr: float = 3e-3,
                 circuit_lr: float | None = None, lr_decay: float = 1.0, seed: int = 0):
        super().__init__(model, lr, circuit_lr, lr_decay, seed)
        if batch is not None and batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.data = data
        self.batch = batch

    def step(self) -> dict[str, float]:
        """One step; returns ``{"step", "loss"}`` (the minibatch NLL before the step)."""
        if self.batch is None or self.batch >= len(self.data):
            rows = self.data
        else:
            rows = self.data[torch.randint(len(self.data), (self.batch,), generator=self.generator)]
        loss = -self.model.log_prob(rows).mean()
        self._apply(loss)
        return {"step": self.step_count, "loss": float(loss.detach())}


class SampledTrainer(_Adam):
    """Adam on the shot-based MMD objective (:func:`~qdiff.apps.hybrid.sampled_mmd_objective`).

    Args:
        model: the hybrid model (its prior's backend draws the circuit samples).
        data: training rows ``(N, D)``; ``batch`` of them per step.
        shots: samples per circuit (base and every shifted one) per step.
        kernel: the kernel on ``x``; ``per_state``: draws per latent state (see the objective).
    """

    def __init__(self, model: HybridBornFlow, data: Tensor, shots: int, kernel: RBFMixture | None = None,
                 batch: int = 256, lr: float = 3e-3, circuit_lr: float | None = 0.05, lr_decay: float = 1.0,
                 per_state: int = 4, seed: int = 0):
        super().__init__(model, lr, circuit_lr, lr_decay, seed)
        self.data = data
        self.shots = shots
        self.kernel = kernel or RBFMixture()
        self.batch = min(batch, len(data))
        self.per_state = per_state

    def step(self) -> dict[str, float]:
        """One step; returns ``{"step", "loss", "evaluations"}`` (loss: the sampled MMD estimate)."""
        rows = self.data[torch.randint(len(self.data), (self.batch,), generator=self.generator)]
        objective = sampled_mmd_objective(self.model, rows, self.kernel, self.shots, self.generator, self.per_state)
        self._apply(objective.loss)
        return {"step": self.step_count, "loss": float(objective.loss.detach()), "evaluations": objective.evaluations}


def mean_nll(model: nn.Module, x: Tensor, batch: int = 1024) -> float:
    """``-mean ln p(x)`` over rows ``(M, D)`` in chunks, without gradients (``inf`` if any row has zero density)."""
    with torch.no_grad():
        values = torch.cat([model.log_prob(x[k:k + batch]) for k in range(0, len(x), batch)])
    return -float(values.mean()) if torch.isfinite(values).all() else math.inf
