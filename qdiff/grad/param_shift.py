"""The ``param_shift`` engine: exact gradients from shifted circuit evaluations.

Rules are derived from each gate's generator spectrum (:mod:`qdiff.ir.shift_rules`): two terms
for Pauli rotations and ``p``, four for controlled rotations, the general rule otherwise. All
shifted evaluations of one backward (every angle, every batch element) form ONE batched run, so
on a shot-based or remote backend it is one job. It applies to outputs linear in the density
matrix (probabilities, expectation values, and the two moments behind a variance); the state
itself has no shift rule.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from qdiff.errors import DifferentiationError
from qdiff.grad.shifts import shift_engine
from qdiff.grad.stencils import ParamShiftStencil
from qdiff.sim.program import TorchProgram

_engine = shift_engine(ParamShiftStencil(), "param_shift")


def param_shift(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
                output: Callable[[torch.Tensor], torch.Tensor], *, linear: bool = True) -> torch.Tensor:
    """Parameter-shift engine (see module docstring)."""
    if not linear:
        raise DifferentiationError(
            "method='param_shift' cannot differentiate the statevector (it is not an expectation "
            "value); use method='adjoint' or 'backprop' for states, or ask for probs/expval")
    return _engine(program, angles, initial_state, output)
