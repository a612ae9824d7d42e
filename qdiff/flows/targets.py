"""Unnormalised 2D toy densities, their exact ``ln Z`` by quadrature, and exact samples.

* ``ring2d``: ``ln pi(x) = -((|x| - 2) / 0.4)^2 / 2`` (``ln Z = 2.533672``);
* ``moons``: Rezende & Mohamed's two-moons energy ``U_1``:
  ``ln pi(x) = -((|x| - 2) / 0.4)^2 / 2 + ln(exp(-((x_1 - 2)/0.6)^2/2) + exp(-((x_1 + 2)/0.6)^2/2))``;
* ``mog``: an equal mixture of four Gaussians (std 0.5) at ``(+-1, +-1)``, left unnormalised.

``ln Z`` is the trapezoid rule on a fine grid (spectrally accurate for these smooth, fast-decaying
integrands); samples come from the same grid (cell picked by its mass, uniform within the cell).

>>> round(toy_target("ring2d").exact_log_z, 6)
2.533672
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

TOYS = ("ring2d", "moons", "mog")
_BOX, _POINTS = 7.0, 1401


def _ring(x: Tensor) -> Tensor:
    return -0.5 * ((x.norm(dim=-1) - 2) / 0.4) ** 2


def _moons(x: Tensor) -> Tensor:
    sides = torch.stack([-0.5 * ((x[..., 0] - 2) / 0.6) ** 2, -0.5 * ((x[..., 0] + 2) / 0.6) ** 2])
    return _ring(x) + torch.logsumexp(sides, 0)


_MOG_MEANS = ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0))


def _mog(x: Tensor) -> Tensor:
    means = torch.tensor(_MOG_MEANS, dtype=x.dtype, device=x.device)
    d2 = ((x[..., None, :] - means) ** 2).sum(-1) / 0.5**2
    return torch.logsumexp(-0.5 * d2, -1)


_LOG_PROBS: dict[str, Callable[[Tensor], Tensor]] = {"ring2d": _ring, "moons": _moons, "mog": _mog}


def _grid() -> tuple[Tensor, float]:
    axis = torch.linspace(-_BOX, _BOX, _POINTS, dtype=torch.float64)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1), float(axis[1] - axis[0])


@dataclass
class ToyTarget:
    """A 2D unnormalised density: ``log_prob (B, 2) -> (B,)``, ``exact_log_z`` by quadrature."""

    name: str
    log_prob: Callable[[Tensor], Tensor]
    dim: int = 2
    _log_z: float | None = field(default=None, repr=False)

    @property
    def exact_log_z(self) -> float:
        """``ln Z = ln int pi(x) dx`` (trapezoid rule on ``[-7, 7]^2``, 1401^2 points)."""
        if self._log_z is None:
            pts, h = _grid()
            lp = self.log_prob(pts)
            self._log_z = float(torch.logsumexp(lp, 0)) + 2 * math.log(h)
        return self._log_z

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact samples ``(n, 2)`` float64 (grid cell by mass, uniform jitter within it)."""
        pts, h = _grid()
        p = torch.softmax(self.log_prob(pts), 0)
        idx = torch.multinomial(p, n, replacement=True, generator=generator)
        return pts[idx] + (torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5) * h


def toy_target(name: str) -> ToyTarget:
    """The toy density ``name`` (one of :data:`TOYS`)."""
    if name not in _LOG_PROBS:
        raise ValueError(f"unknown toy target {name!r}; use one of {', '.join(TOYS)}")
    return ToyTarget(name, _LOG_PROBS[name])
