"""Quantum circuit Born machines (Liu & Wang, PRA 98, 062324, 2018): data sets, the circuit and
its Chow-Liu entangler, MMD / KL losses, exact and shot-based training, and the ``qdiff qcbm``
command.

>>> from qdiff.apps.qcbm import bars_and_stripes, born_circuit, chow_liu_tree
>>> data = bars_and_stripes(3, 3)
>>> born_circuit(9, 10, chow_liu_tree(data)).num_parameters
279
"""

from qdiff.apps.qcbm.circuit import born_circuit, chow_liu_tree, embed_weights, entangler_for, mutual_information
from qdiff.apps.qcbm.data import (
    Distribution,
    bars_and_stripes,
    dataset,
    empirical,
    gaussian,
    gaussian_mixture,
    valid_images,
)
from qdiff.apps.qcbm.losses import MixtureKernel, kl_divergence, mmd, nll, total_variation, valid_rate
from qdiff.apps.qcbm.model import BornMachine
from qdiff.apps.qcbm.sampled import SampledGradient, sampled_mmd_gradient
from qdiff.apps.qcbm.train import DEFAULT_SIGMAS, Trainer, growth_stages

__all__ = [
    "DEFAULT_SIGMAS", "BornMachine", "Distribution", "MixtureKernel", "SampledGradient", "Trainer",
    "bars_and_stripes", "born_circuit", "chow_liu_tree", "dataset", "embed_weights", "empirical", "entangler_for",
    "gaussian", "gaussian_mixture", "growth_stages", "kl_divergence", "mmd", "mutual_information", "nll", "sampled_mmd_gradient",
    "total_variation", "valid_images", "valid_rate",
]
