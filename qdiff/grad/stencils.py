"""Stencils for the shift-based engines: parameter shift, finite differences and SPSA.

Each is a small callable object (its options are its fields) that maps ``(program, angles)`` to
shift vectors and coefficients in angle space; :func:`qdiff.grad.shifts.shift_engine` turns it
into an engine. Only angle slots that depend on a parameter are shifted: constant angles never
need a derivative. The math itself (rules to shifts and weights, SPSA directions) is
:mod:`qdiff.backends.stencils`, shared with the Qiskit backends' gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qdiff.backends.stencils import SPSA, rule_stencil
from qdiff.errors import DifferentiationError
from qdiff.sim.program import TorchProgram


def trainable_slots(program: TorchProgram) -> list[int]:
    """Angle slots whose angle depends on at least one parameter."""
    weights = program.program.weights
    return [a for a in range(weights.shape[0]) if weights[a].any()]


@dataclass(frozen=True)
class ParamShiftStencil:
    """Exact shift rules read from each gate's generator spectrum (two-term, four-term, general)."""

    def __call__(self, program: TorchProgram, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slot_spec = {step.slot: step.spec for step in program.program.steps if step.slot is not None}
        rules = [(a, slot_spec[a].shift_rule) for a in trainable_slots(program)]
        return rule_stencil(rules, angles.shape[-1], angles.dtype, angles.device)


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
        slots = trainable_slots(program)  # none: (0, A) stencils
        h = self.step if self.step is not None else torch.finfo(angles.dtype).eps ** (1 / 3)
        eye = torch.eye(A, dtype=angles.dtype, device=angles.device)[slots]
        return torch.cat([h * eye, -h * eye]), torch.cat([eye / (2 * h), -eye / (2 * h)])


@dataclass
class SPSAStencil(SPSA):
    """SPSA on the simulator (:class:`qdiff.backends.stencils.SPSA`, default ``epsilon=0.01``):
    ``samples`` random +-1 directions over the trainable slots, each evaluated at +-``epsilon``."""

    epsilon: float = 0.01

    def __call__(self, program: TorchProgram, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stencil(angles.shape[-1], trainable_slots(program), angles.dtype, angles.device)
