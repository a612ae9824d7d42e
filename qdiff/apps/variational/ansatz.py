"""Ansatzes for VQE and QAOA: Hamiltonian variational (TFIM, Heisenberg), particle-conserving
(fermionic excitations for molecules) and the QAOA circuit with angles shared through parameter
expressions. The hardware-efficient ansatz is :func:`qdiff.apps.ansatz.hardware_efficient`.

>>> hva_tfim(4, 2).num_parameters
4
>>> c = particle_conserving(4, 2)
>>> [p.name for p in c.parameters]
['s[0]', 's[1]', 'd[0]']
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from qdiff.errors import GateError, ObservableError
from qdiff.ir.circuit import Circuit
from qdiff.ir.gates import GateSpec
from qdiff.ir.observables import PauliSum
from qdiff.ir.parameters import ParameterExpression, ParameterVector

from qdiff.apps.variational.hamiltonians import Lattice, _num_sites, graph_edges, lattice_bonds


_XX = np.kron(np.array([[0, 1], [1, 0]]), np.array([[0, 1], [1, 0]]))
_YY = np.kron(np.array([[0, -1j], [1j, 0]]), np.array([[0, -1j], [1j, 0]]))
EXCHANGE = GateSpec("exchange", 2, 1, "rotation", "exchange",
                    generator=((_XX + _YY + np.diag([1.0, -1.0, -1.0, 1.0])) / 2).astype(complex))
"""``exchange(t) = exp(-i t (XX + YY + ZZ) / 2)`` = ``rxx(t) ryy(t) rzz(t)`` as one gate (simulator only;
``to_qiskit`` has no such gate: use ``hva_heisenberg(..., native=True)`` for Qiskit backends)."""


def _check_layers(layers: int) -> int:
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise GateError(f"layers must be an int >= 1, got {layers!r}")
    return layers


def hva_tfim(lattice: Lattice, layers: int, periodic: bool = True) -> Circuit:
    """Hamiltonian variational ansatz for the TFIM: ``|+>^n``, then per layer ``l``
    ``rzz(gamma[l])`` on every bond and ``rx(beta[l])`` on every site (2 parameters per layer,
    ordered ``gamma[0], beta[0], gamma[1], ...``). On a periodic chain ``layers = N/2`` can
    represent the exact ground state."""
    _check_layers(layers)
    n = _num_sites(lattice)
    bonds = lattice_bonds(lattice, periodic)
    gamma, beta = ParameterVector("gamma", layers), ParameterVector("beta", layers)
    c = Circuit(n)
    for q in range(n):
        c.h(q)
    for layer in range(layers):
        for i, j in bonds:
            c.rzz(gamma[layer], i, j)
        for q in range(n):
            c.rx(beta[layer], q)
    return c


def hva_heisenberg(lattice: Lattice, layers: int, periodic: bool = True, per_bond: bool = False,
                   native: bool = False) -> Circuit:
    """Hamiltonian variational ansatz for the Heisenberg model on a chain or a square lattice:
    singlets on a dimer covering (the ground state of those bonds), then per layer
    ``exp(-i t (XX + YY + ZZ) / 2)`` on every other bond, one matching (set of disjoint bonds) at a
    time, and last on the dimers.

    On a chain the dimers are ``(2i, 2i+1)`` and the other bonds are the odd ones (the usual
    even/odd HVA); on an ``Lx x Ly`` lattice (sites row by row) the dimers pair ``x, x+1`` in each
    row when ``Lx`` is even, else ``y, y+1`` in each column, and the remaining bonds are split
    greedily into matchings (a periodic square lattice needs 3 of them).

    >>> hva_heisenberg(8, 2).num_parameters, hva_heisenberg((4, 4), 2, periodic=False).num_parameters
    (4, 8)

    Args:
        lattice: an even number of sites ``N`` (chain) or ``(Lx, Ly)`` with ``Lx * Ly`` even.
        per_bond: one angle per bond and layer (more expressive) instead of one per matching.
        native: write each bond as ``rxx ryy rzz`` (runs on Qiskit backends) instead of the
            three times cheaper :data:`EXCHANGE` gate.
    Parameters: ``theta``, ``layers * matchings`` of them (``layers * bonds`` with ``per_bond``).
    """
    _check_layers(layers)
    n = _num_sites(lattice)
    if n < 2 or n % 2:
        raise GateError(f"hva_heisenberg needs an even number of sites >= 2 (singlet pairs), got {n}")
    lx, ly = lattice if isinstance(lattice, tuple) else (lattice, 1)
    if lx % 2 == 0:
        dimers = [(x + lx * y, x + 1 + lx * y) for y in range(ly) for x in range(0, lx, 2)]
    else:
        dimers = [(x + lx * y, x + lx * (y + 1)) for x in range(lx) for y in range(0, ly, 2)]
    groups = _matchings([b for b in lattice_bonds(lattice, periodic) if b not in set(dimers)]) + [dimers]
    c = Circuit(n)
    for a, b in dimers:  # (|01> - |10>)/sqrt 2 on (a, b)
        c.x(a).h(a).x(b).cx(a, b)
    theta = ParameterVector("theta", layers * (sum(map(len, groups)) if per_bond else len(groups)))
    k = 0
    for _ in range(layers):
        for group in groups:
            for i, j in group:
                t = theta[k]
                if native:
                    c.rxx(t, i, j).ryy(t, i, j).rzz(t, i, j)
                else:
                    c.append(EXCHANGE, [i, j], [t])
                k += per_bond
            k += not per_bond
    return c


def _matchings(bonds: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Split ``bonds`` into groups of disjoint bonds, greedily in order (first group that fits)."""
    groups: list[list[tuple[int, int]]] = []
    used: list[set[int]] = []
    for i, j in bonds:
        for group, sites in zip(groups, used):
            if i not in sites and j not in sites:
                group.append((i, j))
                sites.update((i, j))
                break
        else:
            groups.append([(i, j)])
            used.append({i, j})
    return groups


def excitation_generator(occupied: tuple[int, ...], virtual: tuple[int, ...], num_qubits: int) -> PauliSum:
    """Hermitian generator ``G = i (T - T^+)`` of the excitation ``T = a+_v... a_o...`` (Jordan-Wigner),
    so that ``exp(-i theta G)`` is the (single or double) excitation rotation."""
    from qdiff.apps.variational.chemistry import _ladder

    T = PauliSum({(): 1.0}, num_qubits=num_qubits)
    for v in virtual:
        T = T @ _ladder(v, True)
    for o in reversed(occupied):
        T = T @ _ladder(o, False)
    G = 1j * (T - T.adjoint())
    return PauliSum({k: complex(c.real) for k, c in G if abs(c) > 1e-12}, num_qubits=num_qubits)


def append_evolution(circuit: Circuit, generator: PauliSum, angle: Any) -> Circuit:
    """Append ``exp(-i angle G)`` for a generator whose Pauli terms commute pairwise, as one
    ``pauli_rot`` per term (``angle`` a parameter or expression)."""
    terms = list(generator)
    labels = generator.to_list(circuit.num_qubits)
    for a, (la, _) in enumerate(labels):
        for lb, _ in labels[a + 1:]:
            anti = sum(1 for x, y in zip(la, lb) if x != "I" and y != "I" and x != y)
            if anti % 2:
                raise ObservableError(f"append_evolution needs commuting terms; {la} and {lb} anticommute")
    for key, coeff in terms:
        if not key:
            continue
        qubits = [q for q, _ in key]
        letters = "".join(l for _, l in key)
        expr: ParameterExpression = angle * (2 * coeff.real)
        circuit.pauli_rot(letters, qubits, expr)
    return circuit


def particle_conserving(num_qubits: int, num_electrons: int, singles: bool = True) -> Circuit:
    """Hartree-Fock ``|1..1 0..0>`` (qubits ``0..Ne-1``) then every spin-conserving single (``s``)
    and double (``d``) excitation rotation, one parameter each (a UCCSD-type, particle-number and
    S_z conserving ansatz; spin orbitals interleaved as in :mod:`.chemistry`). For H2: 2 singles,
    1 double, and the double alone reaches the FCI energy."""
    if num_qubits < 2 or num_qubits % 2 or not 0 < num_electrons < num_qubits:
        raise GateError(f"particle_conserving needs an even number of qubits and 0 < electrons < qubits, "
                        f"got {num_qubits}, {num_electrons}")
    occ, vir = list(range(num_electrons)), list(range(num_electrons, num_qubits))
    single_list = [((o,), (v,)) for o in occ for v in vir if o % 2 == v % 2] if singles else []
    double_list = [(os_, vs) for os_ in combinations(occ, 2) for vs in combinations(vir, 2)
                   if sorted(q % 2 for q in os_) == sorted(q % 2 for q in vs)]
    c = Circuit(num_qubits)
    for q in occ:
        c.x(q)
    s = ParameterVector("s", len(single_list)) if single_list else None
    d = ParameterVector("d", len(double_list))
    for k, (o, v) in enumerate(single_list):
        append_evolution(c, excitation_generator(o, v, num_qubits), s[k])  # type: ignore[index]
    for k, (o, v) in enumerate(double_list):
        append_evolution(c, excitation_generator(o, v, num_qubits), d[k])
    return c


def qaoa_circuit(graph: Any, p: int) -> Circuit:
    """QAOA for MaxCut: ``|+>^n``, then ``p`` times ``exp(-i gamma_l C) exp(-i beta_l B)`` with the
    cut operator ``C = sum w (1 - Z Z)/2`` and mixer ``B = sum X``. ``gamma_l`` is shared by every
    edge through the expression ``-w * gamma_l`` (``rzz``), ``beta_l`` by every qubit (``rx(2 beta_l)``).
    Parameters: ``gamma[0..p-1], beta[0..p-1]`` in the order ``gamma[0], beta[0], gamma[1], ...``.

    Raises:
        GateError: ``p < 1``; ObservableError: a graph without edges.
    """
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise GateError(f"QAOA needs p >= 1 layers, got {p!r}")
    n, edges = graph_edges(graph)
    gamma, beta = ParameterVector("gamma", p), ParameterVector("beta", p)
    c = Circuit(n)
    for q in range(n):
        c.h(q)
    for layer in range(p):
        for i, j, w in edges:
            c.rzz(gamma[layer] * (-w), i, j)
        for q in range(n):
            c.rx(beta[layer] * 2, q)
    return c
