"""Model Hamiltonians as :class:`~qdiff.PauliSum`: transverse-field Ising, Heisenberg / XXZ with
J1-J2 couplings on chains and 2-D lattices, and (weighted) MaxCut from a networkx graph.

Sign conventions (all energies in units of the couplings):

* ``tfim``:  ``H = -J sum_<ij> Z_i Z_j - h sum_i X_i`` (critical at ``h = J`` on the chain);
* ``heisenberg``: ``H = sum_<ij> J1 (X_i X_j + Y_i Y_j + delta Z_i Z_j) + (same with J2 on
  next-nearest bonds)`` -- Pauli matrices, not spin-1/2 operators, so the periodic 8-site ring has
  ``E0 = -14.604374`` (four times the spin-1/2 value);
* ``maxcut``: the cut operator ``C = sum_(ij) w_ij (1 - Z_i Z_j) / 2``; ``<C>`` is the expected cut
  (QAOA maximises it).

>>> tfim(3, h=0.5, periodic=False).to_list()                     # doctest: +NORMALIZE_WHITESPACE
[('IZZ', (-1+0j)), ('ZZI', (-1+0j)), ('IIX', (-0.5+0j)), ('IXI', (-0.5+0j)), ('XII', (-0.5+0j))]
>>> len(heisenberg(8))                      # 8 bonds x (XX, YY, ZZ)
24
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from qdiff.errors import ObservableError
from qdiff.ir.observables import PauliSum, X, Y, Z

Bond = tuple[int, int]
Lattice = int | tuple[int, int]


def _check_size(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ObservableError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def lattice_bonds(lattice: Lattice, periodic: bool = True, neighbor: int = 1) -> list[Bond]:
    """Bonds ``(i, j)`` with ``i < j`` of a chain (``lattice = N``) or an ``Lx x Ly`` square lattice.

    Sites of a 2-D lattice are numbered row by row (``site = x + Lx * y``). ``neighbor=1`` gives
    nearest neighbours, ``neighbor=2`` next-nearest (``i, i+2`` on a chain, diagonals on the square
    lattice). Bonds repeated by small periodic lattices are kept once.

    >>> lattice_bonds(4)
    [(0, 1), (1, 2), (2, 3), (0, 3)]
    >>> lattice_bonds((2, 2), periodic=False)
    [(0, 1), (0, 2), (1, 3), (2, 3)]
    """
    if neighbor not in (1, 2):
        raise ObservableError(f"neighbor must be 1 (nearest) or 2 (next-nearest), got {neighbor!r}")
    if isinstance(lattice, tuple):
        if len(lattice) != 2:
            raise ObservableError(f"a lattice is N (chain) or (Lx, Ly), got {lattice!r}")
        lx, ly = (_check_size("Lx", lattice[0], 1), _check_size("Ly", lattice[1], 1))
        steps = [(1, 0), (0, 1)] if neighbor == 1 else [(1, 1), (1, -1)]
    else:
        lx, ly = _check_size("the number of sites", lattice, 2), 1
        steps = [(neighbor, 0)]
    bonds: list[Bond] = []
    seen: set[Bond] = set()
    for y in range(ly):
        for x in range(lx):
            for dx, dy in steps:
                nx_, ny_ = x + dx, y + dy
                if periodic:
                    nx_, ny_ = nx_ % lx, ny_ % ly
                elif not (0 <= nx_ < lx and 0 <= ny_ < ly):
                    continue
                a, b = x + lx * y, nx_ + lx * ny_
                bond = (min(a, b), max(a, b))
                if a != b and bond not in seen:
                    seen.add(bond)
                    bonds.append(bond)
    return bonds


def _num_sites(lattice: Lattice) -> int:
    return lattice[0] * lattice[1] if isinstance(lattice, tuple) else int(lattice)


def tfim(lattice: Lattice, h: float = 1.0, J: float = 1.0, periodic: bool = True) -> PauliSum:
    """Transverse-field Ising model ``-J sum_<ij> Z_i Z_j - h sum_i X_i`` on ``lattice_bonds(lattice)``.

    Args:
        lattice: ``N`` for a chain or ``(Lx, Ly)``.
        h: transverse field; J: Ising coupling; periodic: periodic boundary bonds.
    """
    bonds = lattice_bonds(lattice, periodic)
    n = _num_sites(lattice)
    H = PauliSum(num_qubits=n)
    for i, j in bonds:
        H = H + (-J) * (Z(i) @ Z(j))
    for i in range(n):
        H = H + (-h) * X(i)
    return PauliSum(H.terms, num_qubits=n)


def heisenberg(lattice: Lattice, J1: float = 1.0, delta: float = 1.0, J2: float = 0.0,
               periodic: bool = True) -> PauliSum:
    """XXZ / J1-J2 Heisenberg model ``sum_<ij> J (X X + Y Y + delta Z Z)`` in Pauli units.

    Args:
        lattice: ``N`` for a chain or ``(Lx, Ly)``.
        J1: nearest-neighbour coupling; J2: next-nearest (0 to omit); delta: ZZ anisotropy
            (1 = isotropic Heisenberg); periodic: periodic boundary bonds.
    """
    n = _num_sites(lattice)
    H = PauliSum(num_qubits=n)
    couplings = [(J1, 1)] + ([(J2, 2)] if J2 else [])
    for J, neighbor in couplings:
        if neighbor == 2 and not isinstance(lattice, tuple) and n < 3:
            raise ObservableError("J2 needs a chain of at least 3 sites")
        for i, j in lattice_bonds(lattice, periodic, neighbor):
            H = H + J * (X(i) @ X(j)) + J * (Y(i) @ Y(j)) + (J * delta) * (Z(i) @ Z(j))
    return PauliSum(H.terms, num_qubits=n)


def graph_edges(graph: Any) -> tuple[int, list[tuple[int, int, float]]]:
    """``(num_nodes, [(i, j, weight), ...])`` of a networkx graph whose nodes are ``0..N-1``
    (edge attribute ``weight``, default 1).

    Raises:
        ObservableError: the graph has no edges, nodes other than ``0..N-1``, self-loops or
            non-numeric weights.
    """
    nodes = list(graph.nodes)
    if sorted(nodes, key=repr) != sorted(range(len(nodes)), key=repr) or any(isinstance(v, bool) for v in nodes):
        raise ObservableError("graph nodes must be the integers 0..N-1; relabel with "
                              "networkx.convert_node_labels_to_integers(graph)")
    edges = []
    for i, j, data in graph.edges(data=True):
        if i == j:
            raise ObservableError(f"graph has a self-loop on node {i}; MaxCut needs edges between distinct nodes")
        w = data.get("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise ObservableError(f"edge ({i}, {j}) has a non-numeric weight {w!r}")
        edges.append((int(i), int(j), float(w)))
    if not edges:
        raise ObservableError(f"the graph has {len(nodes)} node(s) and no edges: MaxCut needs at least one edge")
    return len(nodes), edges


def maxcut(graph: Any) -> PauliSum:
    """The cut operator ``C = sum_(ij) w_ij (1 - Z_i Z_j) / 2`` of a networkx graph (weighted when
    edges carry ``weight``): ``<z|C|z>`` is the weight of the cut ``z`` (qubit ``i`` = side of node ``i``).

    >>> import networkx as nx
    >>> sorted(maxcut(nx.path_graph(3)).to_list())
    [('III', (1+0j)), ('IZZ', (-0.5+0j)), ('ZZI', (-0.5+0j))]
    """
    n, edges = graph_edges(graph)
    C = PauliSum(num_qubits=n)
    for i, j, w in edges:
        C = C + (w / 2) * (PauliSum({(): 1.0}) - Z(i) @ Z(j))
    return PauliSum(C.terms, num_qubits=n)


def diagonal(hamiltonian: PauliSum, num_qubits: int | None = None) -> "Any":
    """The diagonal of a Z-only PauliSum as a float64 numpy array ``(2**n,)`` (e.g. every cut value).

    Raises:
        ObservableError: a term contains X or Y.
    """
    import numpy as np

    n = max(hamiltonian.num_qubits, num_qubits or 0)
    idx = np.arange(2**n)
    out = np.zeros(2**n)
    for key, c in hamiltonian:
        if any(l != "Z" for _, l in key):
            raise ObservableError("diagonal() needs a Hamiltonian of Z terms only")
        parity = np.zeros(2**n, dtype=np.int64)
        for q, _ in key:
            parity ^= (idx >> q) & 1
        out += c.real * (1 - 2 * parity)
    return out


def check_hamiltonian(hamiltonian: object, num_qubits: int | None = None) -> PauliSum:
    """Validate a Hamiltonian before any optimisation: a Hermitian, non-empty PauliSum that fits
    in ``num_qubits`` (the circuit width).

    Raises:
        ObservableError: not a PauliSum, empty, not Hermitian, or wider than the circuit.
    """
    if not isinstance(hamiltonian, PauliSum):
        raise ObservableError(f"the Hamiltonian must be a qdiff PauliSum, got {type(hamiltonian).__name__}")
    if len(hamiltonian) == 0:
        raise ObservableError("the Hamiltonian is zero (no terms)")
    hamiltonian.check_hermitian()
    if num_qubits is not None and hamiltonian.num_qubits > num_qubits:
        raise ObservableError(f"the Hamiltonian acts on {hamiltonian.num_qubits} qubits but the circuit has only "
                              f"{num_qubits}; build the ansatz on at least {hamiltonian.num_qubits} qubits")
    return hamiltonian


def real_terms(hamiltonian: PauliSum) -> list[tuple[str, float]]:
    """Qiskit-style ``[(label, real coefficient)]`` of a Hermitian PauliSum (for tables and JSON)."""
    check_hamiltonian(hamiltonian)
    return [(label, float(c.real)) for label, c in hamiltonian.to_list()]


def from_terms(terms: Sequence[Sequence[Any]], num_qubits: int | None = None) -> PauliSum:
    """Inverse of :func:`real_terms`."""
    return PauliSum.from_list([(str(label), float(c)) for label, c in terms], num_qubits=num_qubits)
