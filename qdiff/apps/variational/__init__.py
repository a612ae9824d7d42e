"""Variational algorithms on qdiff's engines: model and molecular Hamiltonians, exact references and a
differentiable eigensolver, ansatzes, the VQE and QAOA drivers, and the ``qdiff vqe`` / ``qdiff qaoa``
commands.

>>> from qdiff.apps.variational import ground_state, heisenberg
>>> round(ground_state(heisenberg(10)).energy, 6)
-18.061785
"""

from qdiff.apps.variational.ansatz import (
    append_evolution,
    excitation_generator,
    hva_heisenberg,
    hva_tfim,
    particle_conserving,
    qaoa_circuit,
)
from qdiff.apps.variational.chemistry import Molecule, molecule
from qdiff.apps.variational.exact import (
    DegenerateSpectrumError,
    GroundState,
    ParametrizedHamiltonian,
    eigh_ground,
    ground_state,
)
from qdiff.apps.variational.hamiltonians import heisenberg, lattice_bonds, maxcut, tfim
from qdiff.apps.variational.qaoa_driver import (
    QAOAResult,
    brute_force_maxcut,
    erdos_renyi,
    interp,
    linear_ramp,
    qaoa,
    qaoa_sweep,
    regular_graph,
)
from qdiff.apps.variational.sampled import SampledEnergy, qubitwise_groups
from qdiff.apps.variational.vqe_driver import Energy, Minimizer, VQEResult, vqe

__all__ = [
    "DegenerateSpectrumError", "Energy", "GroundState", "Minimizer", "Molecule", "ParametrizedHamiltonian",
    "QAOAResult", "SampledEnergy", "VQEResult", "append_evolution", "brute_force_maxcut", "eigh_ground",
    "erdos_renyi", "excitation_generator", "ground_state", "heisenberg", "hva_heisenberg", "hva_tfim", "interp",
    "lattice_bonds", "linear_ramp", "maxcut", "molecule", "particle_conserving", "qaoa", "qaoa_circuit",
    "qaoa_sweep", "qubitwise_groups", "regular_graph", "tfim", "vqe",
]
