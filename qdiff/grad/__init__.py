"""Gradient engines: interchangeable ways to differentiate a circuit's outputs.

Pick one with ``method=`` on :func:`qdiff.state`, :func:`qdiff.probs`, :func:`qdiff.expval`,
:func:`qdiff.var`: a name from :data:`ENGINES`, ``"auto"``, or an engine object made by
:func:`finite_diff_engine` / :func:`spsa_engine` with your own options.

``"auto"`` picks ``"adjoint"`` on the torch simulator: exact, constant memory in depth, and the
fastest for many parameters. (Shot-based and Qiskit backends, when used, pick ``"param_shift"``.)

Every engine has the signature ``engine(program, angles, initial_state, output, *, linear)``:

* ``program`` -- the compiled :class:`~qdiff.sim.program.TorchProgram`;
* ``angles`` -- ``(B, num_slots)`` rotation angles (already an affine function of the user's
  values, so the chain rule to parameters is torch's), or ``None`` without rotations;
* ``initial_state`` -- ``(B, 2**n)``;
* ``output`` -- a torch function of the final state ``(B, 2**n)``;
* ``linear`` -- whether ``output`` is linear in the density matrix (shift rules need it);

and returns ``output(final_state)`` with a ``grad_fn`` that computes the engine's gradient.
"""

from __future__ import annotations

from collections.abc import Callable

from qdiff.errors import DifferentiationError
from qdiff.grad.adjoint import adjoint
from qdiff.grad.backprop import backprop
from qdiff.grad.param_shift import param_shift
from qdiff.grad.shifts import shift_engine
from qdiff.grad.stencils import FiniteDiffStencil, SPSAStencil

Engine = Callable[..., object]


def finite_diff_engine(step: float | None = None) -> Engine:
    """Central finite differences in every angle, with ``step`` (default ``eps**(1/3)``)."""
    return shift_engine(FiniteDiffStencil(step), "finite_diff")


def spsa_engine(samples: int = 1, epsilon: float = 0.01, seed: int | None = None) -> Engine:
    """SPSA with ``samples`` random directions per backward and perturbation ``epsilon``.

    With ``seed`` the engine owns a private generator (reproducible sequence of directions);
    without, directions follow torch's global RNG (``torch.manual_seed``)."""
    return shift_engine(SPSAStencil(samples, epsilon, seed), "spsa")


ENGINES: dict[str, Engine] = {
    "adjoint": adjoint,
    "backprop": backprop,
    "param_shift": param_shift,
    "finite_diff": finite_diff_engine(),
    "spsa": spsa_engine(samples=1, epsilon=0.01),  # directions from torch's global RNG
}
"""Engines by name (read-only registry)."""

AUTO_METHOD = "adjoint"
"""What ``method="auto"`` picks on the torch simulator."""


def get_engine(method: str | Engine) -> Engine:
    """The engine called ``method`` (``"auto"`` resolves to :data:`AUTO_METHOD`), or ``method``
    itself when it is already an engine."""
    if callable(method):
        return method
    name = AUTO_METHOD if method == "auto" else method
    try:
        return ENGINES[name]
    except (KeyError, TypeError):
        raise DifferentiationError(
            f"unknown gradient method {method!r}; choose one of: auto, {', '.join(ENGINES)}"
        ) from None


__all__ = ["AUTO_METHOD", "ENGINES", "Engine", "finite_diff_engine", "get_engine", "spsa_engine"]
