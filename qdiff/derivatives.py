"""Beyond first derivatives: the Hessian of expectation values and the Fubini-Study metric.

Both take a circuit and its values like :func:`qdiff.expval` (``(*batch, P)`` tensor or a dict)
and return ``(*batch, P, P)`` matrices over ``circuit.parameters``, detached from autograd.

>>> import torch, qdiff
>>> theta, phi = qdiff.Parameter("theta"), qdiff.Parameter("phi")
>>> c = qdiff.Circuit(1).ry(theta, 0).rz(phi, 0)
>>> qdiff.metric_tensor(c, torch.tensor([torch.pi / 2, 0.3])).round(decimals=6).tolist()
[[0.25, 0.0], [0.0, 0.25]]
>>> qdiff.hessian(qdiff.Circuit(1).ry(theta, 0), qdiff.Z(0), torch.tensor([0.0])).round(decimals=6).tolist()
[[-1.0]]
"""

from __future__ import annotations

import torch

from qdiff.errors import DifferentiationError
from qdiff.execute import InitialState, Values, _observable_groups, prepare
from qdiff.grad.hessian import HESSIAN_METHODS
from qdiff.grad.hessian import hessian as _hessian_kernel
from qdiff.grad.metric import APPROXIMATIONS, Approx
from qdiff.grad.metric import metric as _metric_kernel
from qdiff.ir.circuit import Circuit
from qdiff.ir.observables import PauliSum
from qdiff.sim.pauli import expectations


def hessian(circuit: Circuit, observables: PauliSum | list[PauliSum], values: Values = None, *,
            method: str = "param_shift", initial_state: InitialState = None,
            dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Hessian ``d2 <O> / d values_i d values_j`` of expectation values.

    Args:
        circuit: the circuit.
        observables: a Hermitian :class:`PauliSum`, or a list of them.
        values: ``(*batch, P)`` real tensor ordered as ``circuit.parameters``, or a dict.
        method: ``"param_shift"`` (exact two-parameter shift rule, every shifted circuit in one
            batched run), ``"backprop"`` (autograd twice), ``"adjoint"`` (central differences of
            the exact adjoint gradient) or ``"finite_diff"`` (nested central differences). See
            :mod:`qdiff.grad.hessian`.
        initial_state, dtype, device: as in :func:`qdiff.state`.
    Returns:
        real tensor ``(*batch, P, P)`` for one observable, ``(*batch, K, P, P)`` for a list of K.
    Raises:
        DifferentiationError: an unknown ``method``.
        ParameterError, ObservableError, QubitError: bad values, observables or initial state.
    """
    if method not in HESSIAN_METHODS:
        raise DifferentiationError(f"unknown Hessian method {method!r}; choose one of: {', '.join(HESSIAN_METHODS)}")
    if not isinstance(circuit, Circuit):
        raise TypeError(f"expected a qdiff Circuit, got {type(circuit).__name__}; build one with qdiff.Circuit(n)")
    groups, single = _observable_groups(circuit, observables)
    n = circuit.num_qubits

    def output(s: torch.Tensor) -> torch.Tensor:
        e = expectations(s, groups, n)
        return e[:, 0] if single else e

    prep = prepare(circuit, values, initial_state, dtype, device)
    return prep.finish(_hessian_kernel(prep.program, prep.angles, prep.initial, output, method=method))


def metric_tensor(circuit: Circuit, values: Values = None, *, approx: Approx = None,
                  initial_state: InitialState = None, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """The Fubini-Study metric ``g_ij = Re[<d_i psi|d_j psi> - <d_i psi|psi><psi|d_j psi>]``.

    Computed exactly from the derivative states ``|d_a psi>`` of one forward sweep (no finite
    differences), then ``W^T g W`` to the parameters. For a pure state it is a quarter of the
    quantum Fisher information.

    Args:
        circuit: the circuit.
        values: ``(*batch, P)`` real tensor ordered as ``circuit.parameters``, or a dict.
        approx: ``None`` (full), ``"block-diag"`` (pairs of gate angles in one layer: a maximal
            run of parametrized gates on pairwise different qubits with no fixed gate between)
            or ``"diag"``; applied to gate angles before the chain rule, see
            :mod:`qdiff.grad.metric`.
        initial_state, dtype, device: as in :func:`qdiff.state` (the state must be normalised).
    Returns:
        real tensor ``(*batch, P, P)``, symmetric positive semi-definite.
    Raises:
        DifferentiationError: an unknown ``approx``.
        ParameterError, QubitError: bad values or initial state.
    """
    if approx not in APPROXIMATIONS:
        raise DifferentiationError(f"unknown metric approximation {approx!r}; "
                                   "choose None (full), 'block-diag' or 'diag'")
    prep = prepare(circuit, values, initial_state, dtype, device)
    with torch.no_grad():
        g = _metric_kernel(prep.program, prep.angles, prep.initial, approx)
    return prep.finish(g)
