"""Classical normalizing flows in plain torch (no quantum imports): RealNVP, the Monge-Ampere
flow, continuous flows with adjoint gradients, NeuralRG, and the targets of the papers.

>>> import torch
>>> from qdiff.flows import Flow, MLPPotential, MongeAmpereFlow, toy_target, estimate_free_energy
>>> flow = Flow(MongeAmpereFlow(MLPPotential(2, 16), steps=5, dt=0.2), dim=2)
>>> ring = toy_target("ring2d")
>>> F, err = estimate_free_energy(flow, ring.log_prob, 256)
>>> F > -ring.exact_log_z - 4 * err   # the variational bound F >= -ln Z
True
"""

from qdiff.flows.base import Bijector, Chain, Flow, Logit, Z2Symmetrized, mlp
from qdiff.flows.continuous import CNF, MongeAmpereFlow
from qdiff.flows.data import bits_per_dim, dequantize, load_digits, load_mnist
from qdiff.flows.ising import (
    T_CRITICAL,
    IsingRelaxation,
    adjacency,
    brute_force_log_z,
    ising_log_z,
    transfer_matrix_log_z,
)
from qdiff.flows.neuralrg import BlockLayer, NeuralRG, block_indices
from qdiff.flows.ode import odeint
from qdiff.flows.potentials import MLPPotential, NetPotential, Potential, SymmetrizedPotential, lattice_symmetries
from qdiff.flows.realnvp import AffineCoupling, RealNVP, alternating_mask, checkerboard_mask, half_mask
from qdiff.flows.targets import TOYS, ToyTarget, toy_target
from qdiff.flows.train import FlowTrainer, estimate_free_energy, free_energy_samples, mean_nll

__all__ = [
    "AffineCoupling", "Bijector", "BlockLayer", "CNF", "Chain", "Flow", "FlowTrainer", "IsingRelaxation",
    "Logit", "MLPPotential", "MongeAmpereFlow", "NetPotential", "NeuralRG", "Potential", "RealNVP",
    "SymmetrizedPotential", "T_CRITICAL", "TOYS", "ToyTarget", "Z2Symmetrized", "adjacency",
    "alternating_mask", "bits_per_dim", "block_indices", "brute_force_log_z", "checkerboard_mask",
    "dequantize", "estimate_free_energy", "free_energy_samples", "half_mask", "ising_log_z",
    "lattice_symmetries", "load_digits", "load_mnist", "mean_nll", "mlp", "odeint", "toy_target", "transfer_matrix_log_z",
]
