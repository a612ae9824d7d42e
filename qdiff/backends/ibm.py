"""``ibm_backend``: an IBM Quantum device as a :class:`~qdiff.QiskitBackend`.

The account comes from ``QiskitRuntimeService``: a saved account
(``QiskitRuntimeService.save_account(...)``, once) or the environment variables it reads
(``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_INSTANCE``, ``QISKIT_IBM_CHANNEL``). qdiff never prints, logs
or stores the token: it passes ``service_options`` straight to the service and keeps only the
device object, and error messages it raises never include them.
"""

from __future__ import annotations

from typing import Any

from qdiff.backends._qiskit import require
from qdiff.backends.primitives import QiskitBackend
from qdiff.errors import BackendError


def ibm_backend(name: str | None = None, *, min_num_qubits: int | None = None, use_fractional_gates: bool = False,
                backend_options: dict[str, Any] | None = None, **service_options: Any) -> QiskitBackend:
    """A :class:`~qdiff.QiskitBackend` on an IBM device: ``name``, or the least busy one.

    Args:
        name: device name (``"ibm_fez"``); ``None`` picks the least busy operational device
            with at least ``min_num_qubits`` qubits.
        min_num_qubits: lower bound on the device size when picking the least busy one.
        use_fractional_gates: ask for the device's fractional gates (``rzz``, ``rx`` with any
            angle); parametrised angles must then stay inside the gates' limits (see
            docs/hardware.md).
        backend_options: keyword arguments of :class:`~qdiff.QiskitBackend` (``shots``,
            ``optimization_level``, ``mode``, ``max_retries``, ...).
        **service_options: passed to ``QiskitRuntimeService`` (``channel``, ``instance``,
            ``name`` of a saved account, ``token``...); never printed or stored.
    Raises:
        BackendError: the service cannot be reached, or no such device (the message omits
            credentials).
        ImportError: qiskit-ibm-runtime is not installed.
    """
    runtime = require("qiskit_ibm_runtime", "ibm_backend")
    try:
        service = runtime.QiskitRuntimeService(**service_options)
    except Exception as err:  # noqa: BLE001 - reported without the options, which may hold a token
        raise BackendError(f"could not open the IBM Quantum service ({type(err).__name__}); save an account "
                           "once with QiskitRuntimeService.save_account(...) or set QISKIT_IBM_TOKEN and "
                           "QISKIT_IBM_INSTANCE; see docs/hardware.md") from None
    try:
        if name is not None:
            device = service.backend(name, use_fractional_gates=use_fractional_gates)
        else:
            device = service.least_busy(min_num_qubits=min_num_qubits, operational=True, simulator=False,
                                        use_fractional_gates=use_fractional_gates)
    except Exception as err:  # noqa: BLE001
        what = f"device {name!r}" if name else "a least busy device"
        raise BackendError(f"IBM Quantum could not provide {what}: {_scrub(str(err), service_options)}") from None
    return QiskitBackend(device, **(backend_options or {}))


def _scrub(text: str, secrets: dict[str, Any]) -> str:
    """``text`` with any string option value (a token, say) blanked out."""
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 8:
            text = text.replace(value, "***")
    return text
