"""Backends that run qdiff circuits through Qiskit: :class:`AerBackend`, :class:`QiskitBackend`
and :func:`ibm_backend`.

Pass one as ``backend=`` to :func:`qdiff.probs`, :func:`qdiff.expval`, :func:`qdiff.var`,
:func:`qdiff.sample` (and :func:`qdiff.state` on Aer's statevector), or call its methods of the
same names. The default (``backend=None``) is the torch simulator. Importing this package does not
import Qiskit; each backend loads it on first use and, when it is missing, raises an
``ImportError`` naming the ``qdiff[qiskit]`` extra.

Every call submits ONE job for all its parameter sets, and a gradient (parameter shift or SPSA)
sends all shifted parameter sets of the batch in one job too; ``backend.jobs_submitted`` counts
the jobs.
"""

from qdiff.backends.aer import AerBackend
from qdiff.backends.base import Backend
from qdiff.backends.ibm import ibm_backend
from qdiff.backends.primitives import QiskitBackend
from qdiff.backends.stencils import SPSA

__all__ = ["AerBackend", "Backend", "QiskitBackend", "SPSA", "ibm_backend"]
