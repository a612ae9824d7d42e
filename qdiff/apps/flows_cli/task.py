"""What ``qdiff flow`` trains and measures: the model, its trainer, the metrics and the plots of a
target (toy free energy, toy density estimation, Ising free energy, image NLL: digits or MNIST)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from qdiff.apps.loop import UsageError
from qdiff.flows import FlowTrainer, IsingRelaxation, bits_per_dim, dequantize, estimate_free_energy, mean_nll
from qdiff.flows.data import LEVELS, MNIST_LEVELS, load_digits, load_mnist
from qdiff.flows.presets import IMAGES, build_model
from qdiff.flows.targets import toy_target


@dataclass
class Task:
    """A model, its trainer and the target-specific measurements."""

    config: dict[str, Any]
    model: nn.Module
    trainer: FlowTrainer
    log_target: Callable[[Tensor], Tensor] | None = None
    exact_log_z: float | None = None
    test: Tensor | None = None
    train: Tensor | None = None

    @property
    def kind(self) -> str:
        """``toy``, ``ising`` or ``images``."""
        target = self.config["target"]
        return "ising" if target == "ising" else "images" if target in IMAGES else "toy"

    @property
    def levels(self) -> int:
        """Grey levels of the image target."""
        return MNIST_LEVELS if self.config["target"] == "mnist" else LEVELS

    def _dim(self) -> int:
        return int(self.model.dim)

    def quick_eval(self) -> float:
        """A cheap estimate of the metric (free energy per site / NLL / bits per dim) for the log."""
        return self._metric(2048)[0]

    def _metric(self, n: int) -> tuple[float, float]:
        if self.log_target is not None:
            f, err = estimate_free_energy(self.model, self.log_target, n)
            scale = self._dim() if self.kind == "ising" else 1
            return f / scale, err / scale
        assert self.test is not None
        if self.kind == "images":
            torch.manual_seed(12345)  # fixed dequantisation noise: comparable numbers along the run
            test = self.test[:n] if self.config["target"] == "mnist" else self.test  # MNIST: 10,000 x 784
            nll = sum(mean_nll(self.model, dequantize(test, self.levels).float()) for _ in range(4)) / 4
            return bits_per_dim(nll, self._dim(), self.levels), float("nan")
        return mean_nll(self.model, self.test[:n].float()), float("nan")

    def final_metrics(self, n: int) -> dict[str, Any]:
        """The summary keys of the target."""
        rng = torch.get_rng_state()
        value, err = self._metric(n)
        torch.set_rng_state(rng)
        if self.kind == "ising":
            L, N = self.config["L"], self._dim()
            assert self.exact_log_z is not None
            exact = -self.exact_log_z / N
            target = IsingRelaxation(L, self.config["T"])
            return {"free_energy_per_site": value, "free_energy_per_site_stderr": err,
                    "exact_free_energy_per_site": exact, "relative_error": abs((value - exact) / exact),
                    "ln_z_ising_per_site": target.log_z_ising / N, "L": L, "T": self.config["T"]}
        if self.kind == "images":
            return {"nll_bits_per_dim": value, "test_images": min(len(self.test), n) if self.config["target"] ==
                    "mnist" else len(self.test)}
        if self.log_target is not None:
            assert self.exact_log_z is not None
            return {"free_energy": value, "free_energy_stderr": err, "exact_free_energy": -self.exact_log_z,
                    "gap": value + self.exact_log_z}
        exact_nll = self._exact_nll()
        return {"nll": value, "exact_nll": exact_nll, "gap": value - exact_nll}

    def _exact_nll(self) -> float:
        """The target's entropy ``-E_p ln p`` on the test samples (the best achievable NLL)."""
        target = toy_target(self.config["target"])
        assert self.test is not None
        return float(-(target.log_prob(self.test) - target.exact_log_z).mean())

    def plots(self, out: Path, metrics: list[dict[str, Any]]) -> list[Path]:
        """Write the target's plots; raises ``ImportError`` without matplotlib."""
        from qdiff.apps.flows_cli import plots

        summary_exact = None
        if self.kind == "ising":
            summary_exact = -self.exact_log_z / self._dim()
        elif self.log_target is not None:
            summary_exact = -self.exact_log_z
        label = {"ising": "free energy / site", "images": "test bits/dim"}.get(
            self.kind, "free energy" if self.log_target is not None else "test NLL")
        written = [plots.save_loss(out, metrics, summary_exact, label)]
        with torch.no_grad():
            if self.kind == "toy":
                target = toy_target(self.config["target"])
                samples = None if self.train is None else self.train[:3000]
                written.append(plots.save_density(out, self.model.log_prob, target.log_prob, samples))
            elif self.kind == "ising":
                x = self.model.sample(16)
                written.append(plots.save_images(out, torch.sign(x), self.config["L"], "sign(x) of model samples", -1.0, 1.0))
            else:
                x = self.model.sample(16).clamp(0, 1)
                written.append(plots.save_images(out, x, IMAGES[self.config["target"]], "samples of the trained flow"))
        return written


def make_task(config: dict[str, Any]) -> Task:
    """Build the model, data and trainer of a validated config (``torch.manual_seed`` set by the caller)."""
    target = config["target"]
    model = build_model(target, config["model"], L=config["L"] or 4, hidden=config["hidden"],
                        layers=config["layers"], ode_steps=config["ode_steps"], dt=config["dt"],
                        symmetry=config["symmetry"], depth=config.get("depth") or 1)
    common = dict(batch=config["batch"], lr=config["lr"], lr_decay=config["lr_decay"])
    if target == "ising":
        ising = IsingRelaxation(config["L"], config["T"])
        log_target = lambda x: ising.log_prob(x.double()).to(x.dtype)  # noqa: E731
        trainer = FlowTrainer(model, log_target=log_target, **common)
        return Task(config, model, trainer, log_target, ising.exact_log_z)
    if target in IMAGES:
        try:
            train, test = load_mnist(config["data"]) if target == "mnist" else load_digits(seed=config["seed"])
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(f"--data: {exc}") from None
        levels = MNIST_LEVELS if target == "mnist" else LEVELS
        trainer = FlowTrainer(model, data=train, transform=lambda v: dequantize(v, levels).float(), **common)
        return Task(config, model, trainer, test=test, train=train)
    toy = toy_target(target)
    if config["fit"] == "energy":
        log_target = lambda x: toy.log_prob(x.double()).to(x.dtype)  # noqa: E731
        trainer = FlowTrainer(model, log_target=log_target, **common)
        return Task(config, model, trainer, log_target, toy.exact_log_z)
    generator = torch.Generator().manual_seed(config["seed"])
    train = toy.sample(config["samples"], generator).float()
    test = toy.sample(20000, generator)
    trainer = FlowTrainer(model, data=train, **common)
    return Task(config, model, trainer, test=test, train=train)


__all__ = ["Task", "UsageError", "make_task"]
