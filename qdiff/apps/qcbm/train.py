"""Training a Born machine: exact (differentiating exact probabilities) or shot-based (the
unbiased sampled MMD gradient), with Adam or L-BFGS.

>>> from qdiff.apps.qcbm import BornMachine, Trainer, bars_and_stripes, born_circuit, chow_liu_tree
>>> data = bars_and_stripes(2, 2)
>>> machine = BornMachine(born_circuit(4, 2, chow_liu_tree(data)), seed=0)
>>> trainer = Trainer(machine, data, optimizer="lbfgs")
>>> first = trainer.step()["loss"]; _ = [trainer.step() for _ in range(30)]
>>> trainer.evaluate()["mmd"] < first
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from qdiff.apps.qcbm.data import Distribution
from qdiff.apps.qcbm.losses import MixtureKernel, kl_divergence, mmd, total_variation, valid_rate
from qdiff.apps.qcbm.model import BornMachine
from qdiff.apps.qcbm.sampled import sampled_mmd_gradient

OPTIMIZERS = ("adam", "lbfgs")
LOSSES = ("mmd", "kl")
DEFAULT_SIGMAS = (0.5, 1.0, 2.0, 4.0)

Loss = Literal["mmd", "kl"]


class Trainer:
    """Fits a :class:`BornMachine` to a :class:`Distribution`, one optimizer step at a time.

    Args:
        machine: the model.
        data: the target distribution; its number of bits must equal the machine's qubits.
        loss: ``"mmd"`` (default) or ``"kl"`` (exact only: KL needs exact probabilities).
        optimizer: ``"adam"`` or ``"lbfgs"`` (torch's, strong-Wolfe line search, one iteration per step).
        lr: learning rate (Adam; default 0.1) or initial step (L-BFGS; default 1).
        shots: ``None`` for exact training, else samples per distribution for the sampled gradient.
        sigmas: MMD kernel bandwidths; ``normalize_kernel`` toggles the ``1/c`` (see losses).
        seed: seed of the sampling generator (shot-based training).
    The state needed to resume (weights, optimizer, generator, step) is :meth:`state_dict`.
    """

    def __init__(self, machine: BornMachine, data: Distribution, *, loss: Loss = "mmd", optimizer: str = "adam",
                 lr: float | None = None, shots: int | None = None, sigmas: Sequence[float] = DEFAULT_SIGMAS,
                 normalize_kernel: bool = True, seed: int = 0):
        if data.num_bits != machine.num_qubits:
            raise ValueError(f"the data set {data.name!r} has {data.num_bits} bits but the circuit has "
                             f"{machine.num_qubits} qubits; they must match (pixel k -> qubit k)")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots <= 0):
            raise ValueError(f"shots must be a positive int or None (exact), got {shots!r}")
        if shots is not None and (loss != "mmd" or optimizer != "adam"):
            raise ValueError("shot-based training estimates the MMD gradient and needs a stochastic optimizer: "
                             "use loss='mmd' with optimizer='adam'")
        self.machine = machine
        self.data = data
        self.loss = loss
        self.shots = shots
        self.kernel = MixtureKernel(data.num_bits, sigmas, data.encoding, normalize_kernel)
        self.target = torch.as_tensor(data.probs, dtype=torch.float64)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.step_count = 0
        params = [machine.weights]
        if optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(params, lr=0.1 if lr is None else lr)
        else:
            self.optimizer = torch.optim.LBFGS(params, lr=1.0 if lr is None else lr, max_iter=1, max_eval=25, history_size=100,
                                               line_search_fn="strong_wolfe", tolerance_grad=0.0,
                                               tolerance_change=0.0)
        # max_eval bounds the line search's evaluations; torch's default (max_iter * 5 // 4 = 1)
        # would leave it none, and L-BFGS would stall after its first step
        self._cached: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _objective(self, p: torch.Tensor) -> torch.Tensor:
        if self.loss == "kl":
            return kl_divergence(self.target, p)
        return mmd(p, self.target, self.kernel)

    def _closure(self) -> torch.Tensor:
        """Loss and gradient at the current weights; L-BFGS re-evaluates the point its line
        search ended on, so the last evaluation is reused when the weights have not moved."""
        weights = self.machine.weights
        if self._cached is not None and torch.equal(self._cached[0], weights.detach()):
            weights.grad = self._cached[2].clone()
            return self._cached[1]
        self.optimizer.zero_grad()
        loss = self._objective(self.machine.probs())
        loss.backward()
        loss = loss.detach()
        self._cached = (weights.detach().clone(), loss, weights.grad.detach().clone())
        return loss

    def step(self) -> dict[str, float]:
        """One optimizer step; returns ``{"step", "loss"}`` (loss before the step; a sampled
        estimate in shot-based training)."""
        if self.shots is None:
            loss = float(self.optimizer.step(self._closure))
        else:
            estimate = sampled_mmd_gradient(self.machine.circuit, self.machine.weights.detach(), self.target,
                                            self.kernel, self.shots, self.generator, self.machine.backend)
            self.optimizer.zero_grad()
            self.machine.weights.grad = estimate.grad.to(self.machine.weights.dtype)
            self.optimizer.step()
            loss = estimate.loss
        self.step_count += 1
        return {"step": self.step_count, "loss": loss}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Exact metrics of the current model: ``mmd``, ``kl``, ``tv`` and, where the data set
        defines valid states, ``valid_rate``."""
        simulator_machine = self.machine
        p = BornMachine(simulator_machine.circuit, weights=simulator_machine.weights.detach()).probs()
        metrics = {"mmd": float(mmd(p, self.target, self.kernel)), "kl": float(kl_divergence(self.target, p)),
                   "tv": float(total_variation(p, self.target))}
        if self.data.valid is not None and self.data.encoding == "bits" and self.data.shape is not None:
            metrics["valid_rate"] = float(valid_rate(p, self.data.valid))
        return metrics

    def state_dict(self) -> dict[str, object]:
        """Everything needed to continue training exactly where it stopped."""
        return {"step": self.step_count, "weights": self.machine.weights.detach().clone(),
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore a :meth:`state_dict` (shapes are checked)."""
        weights = torch.as_tensor(state["weights"])
        if weights.shape != self.machine.weights.shape:
            raise ValueError(f"checkpoint weights have shape {tuple(weights.shape)} but the model has "
                             f"{tuple(self.machine.weights.shape)}")
        with torch.no_grad():
            self.machine.weights.copy_(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step_count = int(state["step"])
        self._cached = None


def growth_stages(depth: int, steps: int) -> list[tuple[int, int]]:
    """A depth-growing schedule ``[(depth_i, steps_i), ...]`` ending at ``depth``, steps summing to ``steps``.

    Trains at 40 % and 70 % of the depth for 20 % and 30 % of the steps, then at full depth (each
    stage starts from the previous one via :func:`~qdiff.apps.qcbm.circuit.embed_weights`, which
    keeps the model's distribution exactly). It was the cure for the poor local minima of a random
    start at full depth on a seeded Chow-Liu tree; on the default tree both reach the paper's quality
    on BAS 3x3 at depth 10 (benchmarks/results/qcbm.md).

    >>> growth_stages(10, 500)
    [(4, 100), (7, 150), (10, 250)]
    """
    plan = [(max(1, round(0.4 * depth)), round(0.2 * steps)), (max(1, round(0.7 * depth)), round(0.3 * steps))]
    stages: list[tuple[int, int]] = []
    for d, s in plan:
        if d < depth and s > 0 and (not stages or d > stages[-1][0]):
            stages.append((d, s))
    return stages + [(depth, steps - sum(s for _, s in stages))]


def model_samples(machine: BornMachine, shots: int, seed: int) -> np.ndarray:
    """``shots`` samples of the torch-simulated model as integers (for plots and sample metrics)."""
    return BornMachine(machine.circuit, weights=machine.weights.detach()).sample(shots, seed=seed).numpy()
