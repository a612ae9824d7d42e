"""Stencils for the shift-based engines: parameter shift, finite differences and SPSA.

Each is a small callable object (its options are its fields) that maps ``(program, angles)`` to
shift vectors and coefficients in angle space; :func:`qdiff.grad.shifts.shift_engine` turns it
into an engine. Only angle slots that depend on a parameter are shifted: constant angles never
need a derivative.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from qdiff.errors import DifferentiationError
from qdiff.sim.program import TorchProgram


def trainable_slots(program: TorchProgram) -> list[int]:
    """Angle slots whose angle depends on at least one parameter."""
    weights = program.program.weights
    return [a for a in range(weights.shape[0]) if weights[a].any()]


def _empty(A: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.zeros(0, A, dtype=like.dtype, device=like.device)
    return z, z.clone()


@dataclass(frozen=True)
class ParamShiftStencil:
    """Exact shift rules read from each gate's generator spectrum (two-term, four-term, general)."""

    def __call__(self, program: TorchProgram, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        A = angles.shape[-1]
        slot_spec = {step.slot: step.spec for step in program.program.steps if step.slot is not None}
        shifts: list[tuple[int, float, float]] = []
        for a in trainable_slots(program):
            rule = slot_spec[a].shift_rule
            shifts.extend((a, s, c) for s, c in zip(rule.shifts, rule.coefficients))
        if not shifts:
            return _empty(A, angles)
        S = torch.zeros(len(shifts), A, dtype=angles.dtype, device=angles.device)
        C = torch.zeros_like(S)
        for row, (a, s, c) in enumerate(shifts):
            S[row, a] = s
            C[row, a] = c
        return S, C


@dataclass(frozen=True)
class FiniteDiffStencil:
    """Central differences ``(f(a + h) - f(a - h)) / 2h`` per angle; ``step=None`` picks
    ``eps**(1/3)`` of the dtype (about 6e-6 in float64, 5e-3 in float32)."""

    step: float | None = None

    def __post_init__(self) -> None:
        if self.step is not None and not self.step > 0:
            raise DifferentiationError(f"finite-difference step must be positive, got {self.step!r}")

    def __call__(self, program: TorchProgram, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        A = angles.shape[-1]
        slots = trainable_slots(program)
        if not slots:
            return _empty(A, angles)
        h = self.step if self.step is not None else torch.finfo(angles.dtype).eps ** (1 / 3)
        eye = torch.eye(A, dtype=angles.dtype, device=angles.device)[slots]
        return torch.cat([h * eye, -h * eye]), torch.cat([eye / (2 * h), -eye / (2 * h)])


@dataclass
class SPSAStencil:
    """Simultaneous perturbation: ``samples`` random +-1 directions, each evaluated at +-``epsilon``.

    The estimate is unbiased to first order in ``epsilon``; its variance falls as ``1/samples``.
    With a ``seed`` the directions come from a private generator owned by this object (runs are
    reproducible); without one they come from torch's global RNG, so ``torch.manual_seed``
    controls them as it does every other random draw in a torch program.
    """

    samples: int = 1
    epsilon: float = 0.01
    seed: int | None = None
    _generator: torch.Generator | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise DifferentiationError(f"SPSA needs an int samples >= 1, got {self.samples!r}")
        if not self.epsilon > 0:
            raise DifferentiationError(f"SPSA epsilon must be positive, got {self.epsilon!r}")
        if self.seed is not None:
            self._generator = torch.Generator()
            self._generator.manual_seed(self.seed)

    def __call__(self, program: TorchProgram, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        A = angles.shape[-1]
        slots = trainable_slots(program)
        if not slots:
            return _empty(A, angles)
        signs = torch.randint(0, 2, (self.samples, len(slots)), generator=self._generator) * 2 - 1
        delta = torch.zeros(self.samples, A, dtype=angles.dtype)
        delta[:, slots] = signs.to(angles.dtype)
        delta = delta.to(angles.device)
        scale = 1.0 / (2 * self.epsilon * self.samples)
        return torch.cat([self.epsilon * delta, -self.epsilon * delta]), torch.cat([delta * scale, -delta * scale])
