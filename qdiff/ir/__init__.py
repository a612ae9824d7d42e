"""Circuit intermediate representation: parameters, gate specs, circuits and observables.

Pure Python and numpy: importing :mod:`qdiff.ir` never imports torch.
"""

from qdiff.ir.circuit import BARRIER, Circuit, Op
from qdiff.ir.gates import GateSpec
from qdiff.ir.library import GATES, get_spec, mcx_spec, pauli_rot_spec, unitary_spec
from qdiff.ir.observables import I, PauliSum, X, Y, Z
from qdiff.ir.parameters import Parameter, ParameterExpression, ParameterVector
from qdiff.ir.shift_rules import ShiftRule

__all__ = [
    "BARRIER", "Circuit", "GATES", "GateSpec", "I", "Op", "Parameter", "ParameterExpression",
    "ParameterVector", "PauliSum", "ShiftRule", "X", "Y", "Z", "get_spec", "mcx_spec",
    "pauli_rot_spec", "unitary_spec",
]
