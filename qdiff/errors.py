"""The qdiff exception hierarchy.

Every error qdiff raises on bad input derives from :class:`QdiffError` and from the builtin
exception a Python user would expect (``ValueError``, ``TypeError``, ``IndexError``,
``MemoryError``), so ``except ValueError`` keeps working. Messages name the problem and the fix.
This module imports nothing, so every layer may use it.
"""

from __future__ import annotations


class QdiffError(Exception):
    """Base class of every error raised by qdiff."""


class QubitError(QdiffError, IndexError):
    """A qubit index is out of range, repeated in one gate, or the wrong count for a gate."""


class ParameterError(QdiffError, ValueError):
    """Parameter values are missing, of the wrong shape, or of the wrong type."""


class NonAffineError(QdiffError, TypeError):
    """A parameter expression would not be affine (e.g. a product of two parameters)."""


class GateError(QdiffError, ValueError):
    """A gate was given bad arguments (wrong number of angles, a non-unitary matrix, ...)."""


class ObservableError(QdiffError, ValueError):
    """An observable is malformed, not Hermitian, or acts on qubits the circuit lacks."""


class StateTooLargeError(QdiffError, MemoryError):
    """A statevector would not fit in the memory of the chosen device."""


class ShotsError(QdiffError, ValueError):
    """A number of shots is not a positive integer."""


class DifferentiationError(QdiffError, ValueError):
    """A gradient engine cannot differentiate this circuit or output."""


class BackendError(QdiffError, RuntimeError):
    """A backend cannot run this circuit or returned a failure.

    Attributes:
        job_id: the id of the failed job, when a submitted job failed (else ``None``).
    """

    def __init__(self, *args: object, job_id: str | None = None):
        super().__init__(*args)
        self.job_id = job_id
