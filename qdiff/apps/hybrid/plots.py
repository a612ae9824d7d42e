"""Plots of a ``qdiff hybrid`` run (needs matplotlib, the ``plot`` extra): training curves, samples of
every model against the test images (pixel pairs), and the latent distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qdiff.apps.hybrid.data import NoisyBAS
from qdiff.apps.hybrid.model import HybridBornFlow


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write (120 dpi) and close ``fig``; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def save_plots(out: Path, metrics: list[dict[str, Any]], models: dict[str, torch.nn.Module], test: torch.Tensor,
               data: NoisyBAS, seed: int, points: int = 1500) -> list[Path]:
    """Write ``loss.png``, ``samples.png`` and ``latent.png``; return their paths.

    Args:
        metrics: logged lines (``step``, ``loss``, ``model``, optionally ``test_nll``).
        models: ``{"hybrid": HybridBornFlow, "flow_only": ..., "born_only": ...}`` (each with ``sample(n, seed)``).
        test: test images ``(M, D)``; data: their generator (for the exact NLL and the patterns).
    """
    plt = _pyplot()
    written = []
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name in models:
        rows = [m for m in metrics if m.get("model") == name]
        ax.plot([m["phase_step"] for m in rows], [m["loss"] for m in rows], lw=0.6, alpha=0.6, label=f"{name} (train)")
        evals = [(m["phase_step"], m["test_nll"]) for m in rows if "test_nll" in m]
        if evals and all(v == v and abs(v) < 1e6 for _, v in evals):
            ax.plot(*zip(*evals), "o-", ms=3, label=f"{name} test NLL")
    exact = -float(data.log_prob(test).mean())
    ax.axhline(exact, color="k", ls="--", lw=0.8, label="data entropy (exact)")
    ax.set_ylim(exact - 1, exact + 8)
    ax.set_xlabel("step")
    ax.set_ylabel("nats per image")
    ax.legend(fontsize=7)
    written.append(_save(fig, out / "loss.png"))

    pairs = [(0, 1), (0, data.dim - 1)] if data.dim > 2 else [(0, 1)]
    fig, axes = plt.subplots(len(pairs), len(models), figsize=(3.2 * len(models), 3.2 * len(pairs)), squeeze=False)
    shown = test[:points].numpy()
    for j, (name, model) in enumerate(models.items()):
        drawn = model.sample(points, seed=seed + 99).detach().double().numpy()
        for i, (a, b) in enumerate(pairs):
            ax = axes[i, j]
            ax.plot(shown[:, a], shown[:, b], ".", ms=1.5, color="0.6", alpha=0.5, label="test data")
            ax.plot(drawn[:, a], drawn[:, b], ".", ms=1.5, color="C3", alpha=0.5, label="samples")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.set_title(f"{name}: pixels {a}, {b}", fontsize=9)
    axes[0, 0].legend(fontsize=7, markerscale=4, loc="center")
    written.append(_save(fig, out / "samples.png"))

    hybrid = models["hybrid"]
    if isinstance(hybrid, HybridBornFlow):
        with torch.no_grad():
            if hybrid.prior.backend is not None:
                from qdiff.apps.qcbm.model import BornMachine

                prior = BornMachine(hybrid.prior.circuit, weights=hybrid.prior.weights.detach()).probs()
                hybrid = HybridBornFlow(BornMachine(hybrid.prior.circuit, weights=hybrid.prior.weights.detach()),
                                        hybrid.flow)
            else:
                prior = hybrid.prior.probs()
            assigned = hybrid.posterior(test).argmax(1)
        states = torch.arange(len(prior))
        fig, ax = plt.subplots(figsize=(max(5.0, len(prior) / 40), 3.5))
        ax.bar(states.numpy(), prior.numpy(), width=0.8, color="C0", label="prior p_theta(z)")
        freq = torch.bincount(assigned, minlength=len(prior)).double() / len(test)
        ax.plot(states.numpy(), freq.numpy(), "r.", ms=4, label="test images: argmax_z p(z|x)")
        ax.set_xlabel("latent state z (integer)")
        ax.set_ylabel("probability")
        ax.legend(fontsize=8)
        written.append(_save(fig, out / "latent.png"))
    return written
