"""Gradient engines: interchangeable ways to differentiate a circuit's outputs.

Every engine has the signature ``engine(program, angles, initial_state, output) -> Tensor``:

* ``program`` -- the compiled :class:`~qdiff.sim.program.TorchProgram`;
* ``angles`` -- ``(B, num_slots)`` rotation angles (already an affine function of the user's
  values, so the chain rule to parameters is torch's);
* ``initial_state`` -- ``(B, 2**n)``;
* ``output`` -- a function of the final state ``(B, 2**n)`` (identity, probabilities,
  expectation values...), differentiable by torch.

and returns ``output(final_state)`` with a ``grad_fn`` that computes the engine's gradient.
"""

from __future__ import annotations

from collections.abc import Callable

from qdiff.errors import DifferentiationError
from qdiff.grad.backprop import backprop

Engine = Callable[..., object]

ENGINES: dict[str, Engine] = {"backprop": backprop}
"""Engines by name (read-only registry)."""

AUTO_METHOD = "backprop"
"""What ``method="auto"`` picks on the torch simulator."""


def get_engine(method: str) -> Engine:
    """The engine called ``method`` (``"auto"`` resolves to :data:`AUTO_METHOD`)."""
    name = AUTO_METHOD if method == "auto" else method
    try:
        return ENGINES[name]
    except KeyError:
        raise DifferentiationError(
            f"unknown gradient method {method!r}; choose one of: auto, {', '.join(ENGINES)}"
        ) from None


__all__ = ["AUTO_METHOD", "ENGINES", "Engine", "get_engine"]
