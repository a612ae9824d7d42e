"""The ``backprop`` engine: plain torch autograd through the simulator kernels."""

from __future__ import annotations

from collections.abc import Callable

import torch

from qdiff.sim.program import TorchProgram


def backprop(program: TorchProgram, angles: torch.Tensor | None, initial_state: torch.Tensor,
             output: Callable[[torch.Tensor], torch.Tensor], *, linear: bool = True) -> torch.Tensor:
    """Run the program with autograd recording every kernel; memory grows with depth."""
    return output(program.run(initial_state, angles))
