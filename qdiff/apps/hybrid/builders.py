"""Building the three models of a ``qdiff hybrid`` run from its settings, at matched parameter counts."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qdiff.apps.hybrid.baselines import DiscretizedBorn, born_only_depth, flow_only, parameter_count
from qdiff.apps.hybrid.data import NoisyBAS
from qdiff.apps.hybrid.model import HybridBornFlow, conditional_realnvp
from qdiff.apps.qcbm.circuit import born_circuit, entangler_for
from qdiff.apps.qcbm.model import BornMachine
from qdiff.flows import Flow


class Sampling(nn.Module):
    """A flow with the ``sample(n, seed)`` of the other models (seeded without touching torch's global RNG)."""

    def __init__(self, flow: Flow):
        super().__init__()
        self.flow = flow

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``ln q(x)`` ``(B,)``."""
        return self.flow.log_prob(x)

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` samples ``(n, D)`` (no gradient)."""
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed))
            return self.flow.sample(int(n))


def hybrid_model(data: NoisyBAS, config: dict[str, Any], backend: object | None = None) -> HybridBornFlow:
    """The hybrid of a run: ``born_circuit(D, depth, entangler)`` prior and a conditional RealNVP on ``(0, 1)**D``
    (initialised from ``config["seed"]``; torch's global generator is left as it was)."""
    edges = entangler_for(config["entangler"], data.dim, data.latent, config["seed"])
    prior = BornMachine(born_circuit(data.dim, config["depth"], edges), seed=config["seed"], backend=backend)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        flow = conditional_realnvp(data.dim, data.dim, hidden=config["hidden"], layers=config["layers"],
                                   unit_box=True, seed=config["seed"])
    return HybridBornFlow(prior, flow)


def matched_hidden(dim: int, layers: int, parameters: int) -> int:
    """The hidden width of :func:`flow_only` whose parameter count comes closest to ``parameters``."""
    def count(h: int) -> int:
        return parameter_count(flow_only(dim, hidden=h, layers=layers))

    low, high = 2, 256  # the count grows with the width: bisect for the first width at or above the target
    while low < high:
        mid = (low + high) // 2
        if count(mid) < parameters:
            low = mid + 1
        else:
            high = mid
    return min((max(2, low - 1), low), key=lambda h: abs(count(h) - parameters))


def flow_only_model(data: NoisyBAS, config: dict[str, Any], parameters: int) -> Sampling:
    """The flow-only baseline: an unconditional RealNVP with ``parameters`` trainable scalars, give or take a width."""
    hidden = matched_hidden(data.dim, config["layers"], parameters)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        return Sampling(flow_only(data.dim, hidden=hidden, layers=config["layers"]))


def born_only_model(data: NoisyBAS, config: dict[str, Any], parameters: int) -> DiscretizedBorn:
    """The Born-only baseline: ``D * born_bits`` qubits, a line entangler, the depth matching ``parameters``."""
    n = data.dim * config["born_bits"]
    depth = born_only_depth(n, parameters)
    machine = BornMachine(born_circuit(n, depth, [(q, q + 1) for q in range(n - 1)]), seed=config["seed"])
    return DiscretizedBorn(machine, data.dim, config["born_bits"])
