"""Molecular Hamiltonians (STO-3G, Jordan-Wigner) from a shipped table, or from PySCF.

The core needs no chemistry package: :func:`molecule` reads ``data/molecules.json`` (H2 at
several bond lengths, LiH at equilibrium). With the ``chem`` extra (``pip install 'qdiff[chem]'``,
which installs PySCF) :func:`molecule_from_pyscf` computes any geometry, and running this module
regenerates the table::

    python -m qdiff.apps.variational.chemistry          # rewrites data/molecules.json

Qubit ordering: spin orbitals interleaved, qubit ``2k`` = orbital ``k`` spin up, ``2k + 1`` =
spin down, orbitals in increasing energy; the Hartree-Fock state fills qubits ``0..Ne-1``.
Energies are in Hartree and include the nuclear repulsion.

>>> h2 = molecule("h2", 0.735)
>>> h2.num_qubits, h2.num_electrons, round(h2.fci_energy, 6)
(4, 2, -1.137306)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qdiff.errors import ObservableError
from qdiff.ir.observables import PauliSum, X, Y, Z

TABLE = Path(__file__).with_name("data") / "molecules.json"
GEOMETRIES = {"h2": ("H", "H"), "lih": ("Li", "H")}
TABLE_BONDS = {"h2": (0.5, 0.6, 0.7, 0.735, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 2.5), "lih": (1.5, 1.595, 1.7)}
EQUILIBRIUM = {"h2": 0.735, "lih": 1.595}


@dataclass(frozen=True)
class Molecule:
    """A molecular qubit Hamiltonian with its reference energies (Hartree).

    Attributes:
        name: ``"h2"`` or ``"lih"``; bond_length: Angstrom; hamiltonian: PauliSum on ``num_qubits``;
        num_electrons: electrons (the Hartree-Fock state fills qubits ``0..num_electrons-1``);
        fci_energy: exact (FCI) energy in the basis; hf_energy: Hartree-Fock energy.
    """

    name: str
    bond_length: float
    hamiltonian: PauliSum
    num_electrons: int
    fci_energy: float
    hf_energy: float

    @property
    def num_qubits(self) -> int:
        """Spin orbitals = qubits."""
        return self.hamiltonian.num_qubits


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    return json.loads(TABLE.read_text())


def available() -> dict[str, list[float]]:
    """Bond lengths (Angstrom) of each molecule in the shipped table."""
    return {name: sorted(float(b) for b in entries) for name, entries in _table().items()}


def molecule(name: str, bond_length: float | None = None) -> Molecule:
    """A molecule from the shipped table (``bond_length`` default: equilibrium); other bond lengths
    are computed with PySCF when it is installed.

    Raises:
        ObservableError: unknown molecule, or a bond length not in the table without PySCF.
    """
    key = name.lower()
    if key not in GEOMETRIES:
        raise ObservableError(f"unknown molecule {name!r}; available: {', '.join(GEOMETRIES)}")
    r = EQUILIBRIUM[key] if bond_length is None else float(bond_length)
    if not r > 0:
        raise ObservableError(f"bond length must be positive (Angstrom), got {bond_length!r}")
    for b, entry in _table().get(key, {}).items():
        if abs(float(b) - r) < 1e-9:
            H = PauliSum.from_list([(l, float(c)) for l, c in entry["terms"]], num_qubits=entry["num_qubits"])
            return Molecule(key, r, H, int(entry["num_electrons"]), float(entry["fci_energy"]),
                            float(entry["hf_energy"]))
    try:
        import pyscf  # noqa: F401
    except ImportError:
        raise ObservableError(f"{key} at {r} Angstrom is not in the shipped table (available: {available()[key]}); "
                              f"install the chem extra (pip install 'qdiff[chem]') to compute other geometries"
                              ) from None
    return molecule_from_pyscf(key, r)


# -- generation with PySCF ---------------------------------------------------------------------------
def _ladder(p: int, dagger: bool) -> PauliSum:
    """Jordan-Wigner ``a_p^dagger`` (``dagger``) or ``a_p``: ``Z_0 ... Z_{p-1} (X_p -/+ i Y_p) / 2``."""
    string = PauliSum({(): 1.0})
    for q in range(p):
        string = string @ Z(q)
    return string @ (0.5 * X(p) + (-0.5j if dagger else 0.5j) * Y(p))


def fermion_to_qubit(h1: np.ndarray, eri: np.ndarray, constant: float, tol: float = 1e-10) -> PauliSum:
    """Jordan-Wigner qubit Hamiltonian of ``sum h1[P,Q] a+_P a_Q + 1/2 sum (PQ|RS) a+_P a+_R a_S a_Q``
    with spin-orbital integrals (chemists' notation) ``h1`` ``(M, M)`` and ``eri`` ``(M, M, M, M)``.

    Uses ``a+_P a+_R a_S a_Q = E_PQ E_RS - delta_QR E_PS`` with ``E_PQ = a+_P a_Q``.
    """
    M = h1.shape[0]
    E = {(p, q): _ladder(p, True) @ _ladder(q, False) for p in range(M) for q in range(M)}
    terms: dict = {(): complex(constant)}

    def add(op: PauliSum, c: float) -> None:
        for k, v in op:
            terms[k] = terms.get(k, 0) + c * v

    for (p, q), op in E.items():
        c = h1[p, q]
        for s in range(M):
            c -= 0.5 * eri[p, s, s, q]  # the -delta_QR E_PS part, collected onto E_PQ
        if abs(c) > tol:
            add(op, c)
    for p, q, r, s in zip(*np.nonzero(np.abs(eri) > tol)):
        add(E[(p, q)] @ E[(r, s)], 0.5 * eri[p, q, r, s])
    H = PauliSum({k: complex(round(v.real, 14)) for k, v in terms.items() if abs(v) > tol}, num_qubits=M)
    return H


def molecule_from_pyscf(name: str, bond_length: float) -> Molecule:
    """Compute a molecule's STO-3G Jordan-Wigner Hamiltonian, HF and FCI energies with PySCF."""
    from pyscf import ao2mo, fci, gto, scf

    a, b = GEOMETRIES[name]
    mol = gto.M(atom=f"{a} 0 0 0; {b} 0 0 {bond_length}", basis="sto-3g", unit="Angstrom", verbose=0)
    mf = scf.RHF(mol).run()
    C = mf.mo_coeff
    n = C.shape[1]
    h_mo = C.T @ mf.get_hcore() @ C
    eri_mo = ao2mo.restore(1, ao2mo.kernel(mol, C), n)
    M = 2 * n
    h1 = np.zeros((M, M))
    eri = np.zeros((M, M, M, M))
    for s in range(2):
        h1[s::2, s::2] = h_mo
        for t in range(2):
            eri[s::2, s::2, t::2, t::2] = eri_mo
    H = fermion_to_qubit(h1, eri, mol.energy_nuc())
    e_fci = fci.FCI(mf).kernel()[0]
    return Molecule(name, float(bond_length), H, int(mol.nelectron), float(e_fci), float(mf.e_tot))


def _write_table() -> None:  # pragma: no cover - needs PySCF; run by hand
    table: dict[str, dict[str, Any]] = {}
    for name, bonds in TABLE_BONDS.items():
        for r in bonds:
            m = molecule_from_pyscf(name, r)
            table.setdefault(name, {})[f"{r:g}"] = {
                "num_qubits": m.num_qubits, "num_electrons": m.num_electrons, "fci_energy": m.fci_energy,
                "hf_energy": m.hf_energy, "terms": [[l, round(c.real, 12)] for l, c in m.hamiltonian.to_list()]}
            print(f"{name} {r:g} A: {len(m.hamiltonian)} terms, HF {m.hf_energy:.8f}, FCI {m.fci_energy:.8f}")
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":  # pragma: no cover
    _write_table()
