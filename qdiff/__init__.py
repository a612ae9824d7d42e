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


# Names whose modules need torch load on first use (PEP 562), so that `import qdiff.ir` stays
# torch-free as DESIGN.md requires while `qdiff.expval` etc. work as usual.
_LAZY = {
    "bitstrings": "qdiff.execute", "counts": "qdiff.execute", "expval": "qdiff.execute",
    "probs": "qdiff.execute", "sample": "qdiff.execute", "state": "qdiff.execute", "var": "qdiff.execute",
    "hessian": "qdiff.derivatives", "metric_tensor": "qdiff.derivatives",
    "QNGOptimizer": "qdiff.optim", "QuantumLayer": "qdiff.layers",
    # the Qiskit bridge: qdiff.interop imports Qiskit only when one of these is called
    "to_qiskit": "qdiff.interop", "from_qiskit": "qdiff.interop", "to_sparse_pauli_op": "qdiff.interop",
    "from_sparse_pauli_op": "qdiff.interop", "load_qasm": "qdiff.interop", "dump_qasm": "qdiff.interop",
    # Qiskit backends: qdiff.backends imports Qiskit only when a backend is used
    "AerBackend": "qdiff.backends", "QiskitBackend": "qdiff.backends", "ibm_backend": "qdiff.backends",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qdiff' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "__version__",
    "AerBackend",
    "BackendError",
    "bitstrings",
    "Circuit",
    "counts",
    "DifferentiationError",
    "dump_qasm",
    "expval",
    "from_qiskit",
    "from_sparse_pauli_op",
    "GateError",
    "GATES",
    "GateSpec",
    "hessian",
    "I",
    "ibm_backend",
    "load_qasm",
    "metric_tensor",
    "NonAffineError",
    "ObservableError",
    "Op",
    "Parameter",
    "ParameterError",
    "ParameterExpression",
    "ParameterVector",
    "PauliSum",
    "probs",
    "QdiffError",
    "QiskitBackend",
    "QNGOptimizer",
    "QuantumLayer",
    "QubitError",
    "sample",
    "ShotsError",
    "state",
    "StateTooLargeError",
    "to_qiskit",
    "to_sparse_pauli_op",
    "var",
    "X",
    "Y",
    "Z",
]
