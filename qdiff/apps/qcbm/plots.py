"""Plots of a Born-machine run (needs matplotlib, the ``plot`` extra): the loss curve, the learned
versus the target distribution, and sampled images for bars-and-stripes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plotting_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_plots(out: Path, metrics: list[dict[str, Any]], model: np.ndarray, target: np.ndarray,
               samples: np.ndarray, image_shape: tuple[int, int] | None) -> list[Path]:
    """Write ``loss.png``, ``distribution.png`` and (images only) ``samples.png``; return their paths.

    Args:
        metrics: logged lines with ``step`` and ``loss`` (and optionally ``mmd``).
        model, target: ``(2**n,)`` probabilities.
        samples: integer samples of the model ``(K,)``.
        image_shape: ``(rows, cols)`` for image data sets, else ``None``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps = [m["step"] for m in metrics if "loss" in m]
    ax.semilogy(steps, [max(m["loss"], 1e-16) for m in metrics if "loss" in m], label="training loss")
    exact = [(m["step"], m["mmd"]) for m in metrics if "mmd" in m]
    if exact:
        ax.semilogy(*zip(*exact), "o", ms=3, label="exact MMD")
    ax.set_xlabel("step")
    ax.legend()
    fig.tight_layout()
    written.append(out / "loss.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(target))
    ax.bar(x, target, width=1.0, color="0.75", label="target")
    ax.plot(x, model, "r.", ms=3, label="model")
    ax.set_xlabel("basis state (integer)")
    ax.set_ylabel("probability")
    ax.legend()
    fig.tight_layout()
    written.append(out / "distribution.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    if image_shape is not None and len(samples):
        rows, cols = image_shape
        shown = samples[:16]
        fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
        for ax, s in zip(axes.ravel(), np.pad(shown, (0, 16 - len(shown)), constant_values=-1)):
            ax.axis("off")
            if s >= 0:
                bits = (int(s) >> np.arange(rows * cols)) & 1
                ax.imshow(bits.reshape(rows, cols), cmap="gray_r", vmin=0, vmax=1)
        fig.suptitle("samples of the trained model")
        written.append(out / "samples.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written
