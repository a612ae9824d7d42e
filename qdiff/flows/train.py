"""Training objectives and a small trainer for flows.

* Variational free energy (reverse KL against an unnormalised ``ln pi``):
  ``F = E_{x~q}[ln q(x) - ln pi(x)] >= -ln Z``, estimated from reparametrised samples.
* Maximum likelihood (density estimation): ``NLL = -E_data[ln q(x)]``.

>>> import torch
>>> from qdiff.flows import Flow, RealNVP, toy_target
>>> _ = torch.manual_seed(0)
>>> ring = toy_target("ring2d")
>>> trainer = FlowTrainer(Flow(RealNVP(2, 4, 16), 2), log_target=ring.log_prob, batch=64, lr=1e-2)
>>> first = trainer.step()["loss"]; _ = [trainer.step() for _ in range(20)]
>>> trainer.step()["loss"] < first
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor, nn


class Density(Protocol):
    """What the trainer needs of a model: a :class:`~qdiff.flows.Flow` or ``Z2Symmetrized``."""

    def log_prob(self, x: Tensor) -> Tensor: ...

    def sample_and_log_prob(self, n: int) -> tuple[Tensor, Tensor]: ...


def free_energy_samples(flow: Density, log_target: Callable[[Tensor], Tensor], n: int) -> Tensor:
    """``ln q(x) - ln pi(x)`` for ``n`` samples ``x ~ q``; ``(n,)``, differentiable."""
    x, logq = flow.sample_and_log_prob(n)
    return logq - log_target(x)


@torch.no_grad()
def estimate_free_energy(flow: Density, log_target: Callable[[Tensor], Tensor], n: int,
                         batch: int = 1024) -> tuple[float, float]:
    """Mean and standard error of the variational free energy from ``n`` samples."""
    values = torch.cat([free_energy_samples(flow, log_target, min(batch, n - k)) for k in range(0, n, batch)])
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))


@torch.no_grad()
def mean_nll(flow: Density, x: Tensor, batch: int = 1024) -> float:
    """``-mean ln q(x)`` over the rows of ``x (M, D)``."""
    return -float(torch.cat([flow.log_prob(x[k:k + batch]) for k in range(0, len(x), batch)]).mean())


class FlowTrainer:
    """Adam on the free energy (``log_target`` given) or the NLL of ``data`` (one of the two).

    Args:
        flow: the model (an ``nn.Module`` with ``log_prob`` / ``sample_and_log_prob``).
        log_target: unnormalised ``ln pi (B, D) -> (B,)``: reverse-KL training.
        data: ``(M, D)`` training data: maximum likelihood; ``transform`` maps a batch before use
            (e.g. dequantisation noise).
        batch: samples (or data rows) per step. lr: Adam's learning rate. clip: gradient-norm clip.
        lr_decay: multiply the learning rate by this after every step (1 = constant).
    """

    def __init__(self, flow: nn.Module, *, log_target: Callable[[Tensor], Tensor] | None = None,
                 data: Tensor | None = None, transform: Callable[[Tensor], Tensor] | None = None,
                 batch: int = 256, lr: float = 1e-3, clip: float | None = 10.0, lr_decay: float = 1.0):
        if (log_target is None) == (data is None):
            raise ValueError("pass exactly one of log_target (free energy) or data (likelihood)")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.flow, self.log_target, self.data, self.transform = flow, log_target, data, transform
        self.batch, self.clip = batch, clip
        self.optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, lr_decay)
        self.step_count = 0

    def loss(self) -> Tensor:
        """The scalar training loss of one fresh batch."""
        if self.log_target is not None:
            return free_energy_samples(self.flow, self.log_target, self.batch).mean()
        assert self.data is not None
        idx = torch.randint(0, len(self.data), (self.batch,))
        x = self.data[idx]
        if self.transform is not None:
            x = self.transform(x)
        return -self.flow.log_prob(x).mean()

    def step(self) -> dict[str, Any]:
        """One optimizer step; returns ``{"step", "loss"}``."""
        self.optimizer.zero_grad()
        loss = self.loss()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss.item()} at step {self.step_count + 1}; "
                                     f"lower the learning rate or the ODE step size")
        loss.backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(self.flow.parameters(), self.clip)
        self.optimizer.step()
        self.scheduler.step()
        self.step_count += 1
        return {"step": self.step_count, "loss": loss.item()}

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, schedule, step and the torch RNG (to resume exactly)."""
        return {"step": self.step_count, "model": self.flow.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": torch.get_rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.flow.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        self.step_count = int(state["step"])
