"""Hybrid quantum-classical generative models: a Born-machine prior over latent bits with a
conditional normalizing flow, trained end to end by exact maximum likelihood or, when only samples
of the circuit are available, by a sampled MMD objective; the noisy bars-and-stripes data, the
flow-only and Born-only baselines, and the ``qdiff hybrid`` command.
"""

from qdiff.apps.hybrid.baselines import DiscretizedBorn, born_only_depth, flow_only, parameter_count
from qdiff.apps.hybrid.data import NoisyBAS, bits_to_index, index_to_bits, split
from qdiff.apps.hybrid.kernels import RBFMixture, sample_mmd
from qdiff.apps.hybrid.model import HybridBornFlow, conditional_realnvp
from qdiff.apps.hybrid.sampled import SampledObjective, sampled_mmd_objective

__all__ = [
    "DiscretizedBorn", "HybridBornFlow", "NoisyBAS", "RBFMixture", "SampledObjective",
    "bits_to_index", "born_only_depth", "conditional_realnvp", "flow_only", "index_to_bits", "parameter_count", "sample_mmd",
    "sampled_mmd_objective", "split",
]
