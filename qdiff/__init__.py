"""qdiff: differentiable quantum circuits for PyTorch.

Build a circuit once, simulate it on a batched torch statevector, and differentiate any output
with the engine of your choice.

>>> import torch, qdiff
>>> theta = qdiff.Parameter("theta")
>>> circuit = qdiff.Circuit(1).ry(theta, 0)
>>> values = torch.tensor([0.3], requires_grad=True)
>>> energy = qdiff.expval(circuit, qdiff.Z(0), values)
>>> energy.backward()
>>> round(values.grad.item(), 6) == round(-torch.sin(torch.tensor(0.3)).item(), 6)
True
"""

from qdiff.errors import (
    BackendError,
    DifferentiationError,
    GateError,
    NonAffineError,
    ObservableError,
    ParameterError,
    QdiffError,
    QubitError,
    ShotsError,
    StateTooLargeError,
)
from qdiff.execute import bitstrings, counts, expval, probs, sample, state, var
from qdiff.ir import (
    GATES,
    Circuit,
    GateSpec,
    I,
    Op,
    Parameter,
    ParameterExpression,
    ParameterVector,
    PauliSum,
    X,
    Y,
    Z,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError", "Circuit", "DifferentiationError", "GATES", "GateError", "GateSpec", "I",
    "NonAffineError", "ObservableError", "Op", "Parameter", "ParameterError", "ParameterExpression",
    "ParameterVector", "PauliSum", "QdiffError", "QubitError", "ShotsError", "StateTooLargeError",
    "X", "Y", "Z", "__version__", "bitstrings", "counts", "expval", "probs", "sample", "state", "var",
]
