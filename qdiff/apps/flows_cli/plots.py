"""Plots of a ``qdiff flow`` run (needs matplotlib, the ``plot`` extra)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_loss(out: Path, metrics: list[dict[str, Any]], exact: float | None, label: str) -> Path:
    """``loss.png``: the training loss and the evaluated metric against the exact value."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([m["step"] for m in metrics], [m["loss"] for m in metrics], lw=0.7, label="training loss")
    evals = [(m["step"], m["eval"]) for m in metrics if "eval" in m]
    if evals:
        ax.plot(*zip(*evals), "o", ms=3, label=label)
    if exact is not None:
        ax.axhline(exact, color="k", ls="--", lw=0.8, label="exact")
    ax.set_xlabel("step")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=120)
    plt.close(fig)
    return out / "loss.png"


@torch.no_grad()
def save_density(out: Path, log_q: Callable[[Tensor], Tensor], log_target: Callable[[Tensor], Tensor],
                 samples: Tensor | None = None, box: float = 4.0, points: int = 200) -> Path:
    """``density.png``: the learned density beside the target (and training samples, if any)."""
    plt = _pyplot()
    axis = torch.linspace(-box, box, points, dtype=torch.float64)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    learned = torch.cat([log_q(grid[k:k + 4096].float()).double() for k in range(0, len(grid), 4096)])
    target = log_target(grid)
    panels = [("target (unnormalised)", target.exp()), ("learned q(x)", learned.exp())]
    fig, axes = plt.subplots(1, len(panels) + (samples is not None), figsize=(4 * (len(panels) + 1), 3.8))
    for ax, (title, values) in zip(axes, panels):
        ax.imshow(values.reshape(points, points).T.numpy(), origin="lower", extent=(-box, box, -box, box))
        ax.set_title(title)
    if samples is not None:
        axes[-1].plot(samples[:, 0].numpy(), samples[:, 1].numpy(), ".", ms=1, alpha=0.4)
        axes[-1].set_xlim(-box, box)
        axes[-1].set_ylim(-box, box)
        axes[-1].set_aspect("equal")
        axes[-1].set_title("training samples")
    fig.tight_layout()
    fig.savefig(out / "density.png", dpi=120)
    plt.close(fig)
    return out / "density.png"


def save_images(out: Path, images: Tensor, side: int, title: str, vmin: float = 0.0, vmax: float = 1.0) -> Path:
    """``samples.png``: up to 16 samples shown as ``side x side`` images."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
    for ax, img in zip(axes.ravel(), images[:16]):
        ax.imshow(img.reshape(side, side).numpy(), cmap="gray_r", vmin=vmin, vmax=vmax)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title)
    fig.savefig(out / "samples.png", dpi=120)
    plt.close(fig)
    return out / "samples.png"
