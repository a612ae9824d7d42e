"""Integrating ``d state / dt = f(t, state)`` for a tuple of tensors.

``method="rk4"`` without adjoint is the classical fixed-step Runge-Kutta scheme
``y += (k1 + 2 k2 + 2 k3 + k4) / 6`` (a few lines here, no dependency), differentiated by
backpropagation through the steps. Every other method, and ``adjoint=True`` (gradients by solving
the adjoint ODE backwards: memory independent of the number of steps), goes to torchdiffeq's
``odeint`` / ``odeint_adjoint`` (the ``flows`` extra); there ``"rk4"`` is torchdiffeq's fixed-grid
RK4 (3/8 rule) with ``steps`` steps, and ``"dopri5"`` etc. are adaptive with ``rtol``/``atol``.

>>> import torch
>>> f = lambda t, s: (-s[0],)
>>> (y,) = odeint((torch.ones(1, dtype=torch.float64),), f, 0.0, 1.0, steps=20)
>>> abs(y.item() - torch.exp(torch.tensor(-1.0)).item()) < 1e-7
True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]
Dynamics = Callable[[Tensor | float, State], State]

METHODS = ("rk4", "euler", "midpoint", "dopri5", "bosh3", "adaptive_heun")


def _torchdiffeq():
    try:
        import torchdiffeq
    except ImportError:
        raise ImportError("adaptive and adjoint ODE solvers need torchdiffeq: pip install 'qdiff[flows]' "
                          "(or use method='rk4' without adjoint)") from None
    return torchdiffeq


def rk4(state: State, func: Dynamics, t0: float, t1: float, steps: int) -> State:
    """Classical RK4 with ``steps`` equal steps from ``t0`` to ``t1`` (``t1 < t0`` runs backwards)."""
    h = (t1 - t0) / steps
    t = t0
    for _ in range(steps):
        k1 = func(t, state)
        k2 = func(t + h / 2, tuple(s + h / 2 * k for s, k in zip(state, k1)))
        k3 = func(t + h / 2, tuple(s + h / 2 * k for s, k in zip(state, k2)))
        k4 = func(t + h, tuple(s + h * k for s, k in zip(state, k3)))
        state = tuple(s + h / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))
        t += h
    return state


def odeint(state: State, func: Dynamics, t0: float, t1: float, *, steps: int = 20, method: str = "rk4",
           adjoint: bool = False, rtol: float = 1e-5, atol: float = 1e-6) -> State:
    """The state at ``t1`` of ``d state/dt = func(t, state)`` started at ``t0``.

    Args:
        state: tuple of tensors (e.g. ``(x (B, D), logp (B,))``).
        func: the dynamics; with ``adjoint=True`` it must be an ``nn.Module`` holding every
            parameter that needs a gradient.
        steps: fixed-grid steps (``rk4``, ``euler``, ``midpoint``).
        method: one of :data:`METHODS`.
        adjoint: gradients by the adjoint method (torchdiffeq's ``odeint_adjoint``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown ODE method {method!r}; use one of {', '.join(METHODS)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if method == "rk4" and not adjoint:
        return rk4(state, func, t0, t1, steps)
    tde = _torchdiffeq()
    ref = state[0]
    ts = torch.tensor([t0, t1], dtype=ref.dtype, device=ref.device)
    kwargs: dict[str, object] = {"method": method, "rtol": rtol, "atol": atol}
    if method in ("rk4", "euler", "midpoint"):
        kwargs["options"] = {"step_size": abs(t1 - t0) / steps}
    if adjoint:
        if not isinstance(func, nn.Module):
            raise TypeError("adjoint=True needs the dynamics as an nn.Module (its parameters get gradients)")
        kwargs["adjoint_params"] = tuple(func.parameters())
        out = tde.odeint_adjoint(func, state, ts, **kwargs)
    else:
        out = tde.odeint(func, state, ts, **kwargs)
    return tuple(o[-1] for o in out)
