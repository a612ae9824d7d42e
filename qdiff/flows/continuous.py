"""Continuous flows: the Monge-Ampere flow and the general neural ODE (CNF).

Both integrate ``dx/dt = v(t, x)`` together with ``d(log det)/dt = div v`` over ``[0, T]``:
``forward`` (latent -> data) runs ``0 -> T`` and returns ``log|det dx/dz| = int div v dt``;
``inverse`` runs the same ODE ``T -> 0`` (density evaluation of data). With fixed-step RK4 the two
directions are inverse up to the discretisation error ``O(dt^4)``.

* :class:`MongeAmpereFlow` (Zhang, E & Wang 2018): ``v = grad phi(x)``, ``div v = laplacian phi``,
  from a potential of :mod:`qdiff.flows.potentials` (closed form, or Hutchinson with probes drawn
  once per solve).
* :class:`CNF`: ``v = net(t, x)``; divergence exactly by autograd (``D`` backward passes) or by
  Hutchinson; ``adjoint=True`` uses torchdiffeq's adjoint method (constant memory in the steps).

>>> import torch
>>> from qdiff.flows import MLPPotential, MongeAmpereFlow
>>> _ = torch.manual_seed(0)
>>> f = MongeAmpereFlow(MLPPotential(2, 8, init_scale=0.5), steps=10, dt=0.1).double()
>>> z = torch.randn(4, 2, dtype=torch.float64)
>>> x, ld = f(z); z2, ld2 = f.inverse(x)
>>> bool((z - z2).abs().max() < 1e-6), bool((ld + ld2).abs().max() < 1e-6)
(True, True)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qdiff.flows.base import Bijector
from qdiff.flows.ode import odeint
from qdiff.flows.potentials import Potential, divergence


class _PotentialDynamics(nn.Module):
    """``(x, acc) -> (grad phi(x), laplacian phi(x))`` with fixed Hutchinson probes."""

    def __init__(self, potential: Potential):
        super().__init__()
        self.potential = potential
        self.noise: Tensor | None = None

    def forward(self, t: Tensor | float, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return self.potential.grad_and_laplacian(state[0], self.noise)


class _NetDynamics(nn.Module):
    """``(x, acc) -> (net(t, x), div net)`` with exact or Hutchinson divergence."""

    def __init__(self, net: nn.Module, hutchinson: bool, time_input: bool):
        super().__init__()
        self.net = net
        self.hutchinson = hutchinson
        self.time_input = time_input
        self.noise: Tensor | None = None

    def forward(self, t: Tensor | float, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        x = state[0]
        with torch.enable_grad():
            x = x if x.requires_grad else x.detach().requires_grad_(True)
            inp = torch.cat([x, x.new_full((x.shape[0], 1), float(t.detach()) if isinstance(t, Tensor) else t)], 1) if self.time_input else x
            v = self.net(inp)
            return v, divergence(v, x, self.noise, probes=self.hutchinson)


class _ODEBijector(Bijector):
    def __init__(self, dynamics: nn.Module, steps: int, dt: float, method: str, adjoint: bool, probes: int,
                 stochastic: bool):
        super().__init__()
        if steps < 1 or dt <= 0:
            raise ValueError(f"need steps >= 1 and dt > 0, got steps={steps}, dt={dt}")
        self.dynamics = dynamics
        self.steps, self.dt, self.method, self.adjoint, self.probes = steps, dt, method, adjoint, probes
        self.stochastic = stochastic

    def _solve(self, x: Tensor, t0: float, t1: float) -> tuple[Tensor, Tensor]:
        self.dynamics.noise = (torch.randn((self.probes, *x.shape), dtype=x.dtype, device=x.device)
                               if self.stochastic else None)
        try:
            y, acc = odeint((x, x.new_zeros(x.shape[0])), self.dynamics, t0, t1, steps=self.steps,
                            method=self.method, adjoint=self.adjoint)
        finally:
            self.dynamics.noise = None
        return y, acc

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        return self._solve(z, 0.0, self.steps * self.dt)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_context(context)
        return self._solve(x, self.steps * self.dt, 0.0)


class MongeAmpereFlow(_ODEBijector):
    """The Monge-Ampere flow ``dx/dt = grad phi(x)``, ``d ln p/dt = -laplacian phi(x)``.

    Args:
        potential: ``phi`` (e.g. :class:`~qdiff.flows.MLPPotential`).
        steps: integration steps. dt: step size (``T = steps * dt``; the paper: 50 x 0.1).
        method: ``"rk4"`` (classical, default) or a torchdiffeq method; adjoint: adjoint gradients.
        probes: Hutchinson probes per solve, for stochastic potentials.
    """

    def __init__(self, potential: Potential, steps: int = 50, dt: float = 0.1, method: str = "rk4",
                 adjoint: bool = False, probes: int = 1):
        super().__init__(_PotentialDynamics(potential), steps, dt, method, adjoint, probes, potential.stochastic)

    @property
    def potential(self) -> Potential:
        """The potential ``phi``."""
        return self.dynamics.potential


class CNF(_ODEBijector):
    """A continuous normalizing flow (neural ODE) ``dx/dt = net([x, t])``.

    Args:
        net: maps ``(B, D + 1)`` (``time_input=True``: ``x`` with ``t`` appended) or ``(B, D)`` to ``(B, D)``.
        steps, dt: ``T = steps * dt``; fixed-grid steps (adaptive methods use rtol/atol instead).
        method: ``"rk4"`` (default) or another method of :data:`qdiff.flows.ode.METHODS`.
        adjoint: gradients by the adjoint ODE (torchdiffeq), memory independent of ``steps``.
        hutchinson: divergence by Hutchinson's estimator with ``probes`` Gaussian probes per solve
            (else exact, ``D`` backward passes per evaluation).
    """

    def __init__(self, net: nn.Module, steps: int = 20, dt: float = 0.05, method: str = "rk4",
                 adjoint: bool = False, hutchinson: bool = False, probes: int = 1, time_input: bool = True):
        super().__init__(_NetDynamics(net, hutchinson, time_input), steps, dt, method, adjoint, probes, hutchinson)
