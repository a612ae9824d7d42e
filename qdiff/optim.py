"""Quantum natural gradient: a ``torch.optim.Optimizer`` that preconditions with the metric.

Each step solves ``(g + lam I) delta = grad`` and moves ``theta <- theta - lr * delta``, where
``g = metric_fn(theta)`` is the Fubini-Study metric (Stokes et al., Quantum 4, 269 (2020)).
``lam`` (Tikhonov regularisation) keeps the solve well posed where the metric is singular.

>>> import torch, qdiff
>>> theta = qdiff.ParameterVector("theta", 2)
>>> c = qdiff.Circuit(1).ry(theta[0], 0).rz(theta[1], 0)
>>> v = torch.tensor([0.5, 0.1], dtype=torch.float64, requires_grad=True)
>>> opt = qdiff.QNGOptimizer([v], lr=0.1, metric_fn=lambda p: qdiff.metric_tensor(c, p))
>>> for _ in range(30):
...     opt.zero_grad()
...     qdiff.expval(c, qdiff.Z(0), v).backward()
...     opt.step()
>>> round(float(qdiff.expval(c, qdiff.Z(0), v.detach())), 3)
-1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from qdiff.errors import ParameterError

MetricFn = Callable[[torch.Tensor], torch.Tensor]


class QNGOptimizer(torch.optim.Optimizer):
    """Quantum natural gradient descent.

    Args:
        params: parameter tensors (or param groups); each is one circuit's values ``(P,)`` or a
            batch ``(*batch, P)`` with independent metrics.
        lr: step size, positive.
        metric_fn: ``metric_fn(values) -> (*batch, P, P)`` metric at the detached ``values``,
            e.g. ``lambda v: qdiff.metric_tensor(circuit, v, approx="block-diag")``. It is called
            once per tensor per step, under ``torch.no_grad()``.
        lam: regularisation added to the metric's diagonal, non-negative.
    Raises:
        ValueError: a non-positive ``lr`` or negative ``lam``.
        TypeError: ``metric_fn`` is missing or not callable.
        ParameterError: ``metric_fn`` returns a matrix of the wrong shape.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], lr: float = 0.01,
                 metric_fn: MetricFn | None = None, lam: float = 1e-3):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr!r}")
        if not lam >= 0:
            raise ValueError(f"lam must be non-negative, got {lam!r}")
        if not callable(metric_fn):
            raise TypeError("QNGOptimizer needs metric_fn, a callable values -> (P, P) metric, e.g. "
                            "metric_fn=lambda v: qdiff.metric_tensor(circuit, v)")
        super().__init__(params, {"lr": lr, "metric_fn": metric_fn, "lam": lam})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        """One natural-gradient step for every parameter with a gradient.

        Args:
            closure: optional; re-evaluates the loss with gradients enabled and returns it.
        Returns:
            the closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                g = group["metric_fn"](p.detach())
                expected = tuple(p.shape) + (p.shape[-1],) if p.dim() else None
                if expected is None or tuple(g.shape) != expected:
                    raise ParameterError(f"metric_fn returned shape {tuple(g.shape)} for a parameter of shape "
                                         f"{tuple(p.shape)}; expected (*batch, P, P) = {expected}")
                eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
                delta = torch.linalg.solve(g + group["lam"] * eye, grad.to(g.dtype).unsqueeze(-1)).squeeze(-1)
                p.sub_(group["lr"] * delta.to(p.dtype))
        return loss
