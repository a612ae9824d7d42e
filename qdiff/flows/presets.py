"""Ready-made models and default settings for the targets of the papers (used by ``qdiff flow`` and
the examples).

>>> import torch
>>> model = build_model("ising", "neuralrg", L=4, hidden=8, layers=2)
>>> type(model).__name__, model.dim
('Z2Symmetrized', 16)
>>> defaults("ising", "ma")["hidden"] > 0
True
"""

from __future__ import annotations

from typing import Any

from torch import nn

from qdiff.flows.base import Chain, Flow, Logit, Z2Symmetrized, mlp
from qdiff.flows.continuous import CNF, MongeAmpereFlow
from qdiff.flows.neuralrg import NeuralRG
from qdiff.flows.potentials import MLPPotential, SymmetrizedPotential, lattice_symmetries
from qdiff.flows.realnvp import RealNVP
from qdiff.flows.targets import TOYS

TARGETS = (*TOYS, "ising", "digits", "mnist")
IMAGES = {"digits": 8, "mnist": 28}  # image targets and their side
MODELS = ("ma", "realnvp", "neuralrg", "cnf")
SYMMETRIES = ("none", "z2", "lattice")

# (kind, model) -> settings; kind is "toy", "ising", "digits" or "mnist". Chosen so that each run takes a few
# CPU minutes and reaches the targets recorded in benchmarks/results/flows.md.
_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("toy", "ma"): dict(hidden=64, layers=1, ode_steps=20, dt=0.25, batch=512, lr=1e-2, lr_decay=0.997, steps=800),
    ("toy", "realnvp"): dict(hidden=64, layers=8, ode_steps=0, dt=0.0, batch=1024, lr=1e-3, lr_decay=0.9995,
                             steps=4000),
    ("toy", "cnf"): dict(hidden=32, layers=2, ode_steps=10, dt=0.1, batch=256, lr=5e-3, lr_decay=0.998, steps=800),
    ("ising", "ma"): dict(hidden=256, layers=1, ode_steps=20, dt=0.2, batch=256, lr=1e-2, lr_decay=0.998,
                          steps=800),
    ("ising", "neuralrg"): dict(hidden=64, layers=4, ode_steps=0, dt=0.0, batch=256, lr=2e-3, lr_decay=0.999,
                                steps=1500),
    ("ising", "realnvp"): dict(hidden=128, layers=8, ode_steps=0, dt=0.0, batch=256, lr=2e-3, lr_decay=0.999,
                               steps=1500),
    ("digits", "realnvp"): dict(hidden=128, layers=6, ode_steps=0, dt=0.0, batch=128, lr=5e-4, lr_decay=0.999,
                                steps=1500),
    ("digits", "ma"): dict(hidden=512, layers=1, ode_steps=10, dt=0.2, batch=128, lr=3e-3, lr_decay=0.999,
                           steps=1500),
    # MNIST (784 dims, local copy only): not tuned on this project's machines (no copy here)
    ("mnist", "realnvp"): dict(hidden=256, layers=8, ode_steps=0, dt=0.0, batch=128, lr=5e-4, lr_decay=0.9995,
                               steps=5000),
    ("mnist", "ma"): dict(hidden=1024, layers=1, ode_steps=10, dt=0.2, batch=128, lr=3e-3, lr_decay=0.9995,
                          steps=5000),
}

# the model each target uses when none is named: the one that reaches the target in a few minutes
# (reverse KL with RealNVP drops modes of the Gaussian mixture; the MA flow keeps them)
DEFAULT_MODEL = {"ring2d": "realnvp", "moons": "realnvp", "mog": "ma", "ising": "ma", "digits": "realnvp",
                 "mnist": "realnvp"}


def target_kind(target: str) -> str:
    """``"toy"``, ``"ising"``, ``"digits"`` or ``"mnist"``."""
    if target in TOYS:
        return "toy"
    if target in ("ising", *IMAGES):
        return target
    raise ValueError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")


def defaults(target: str, model: str) -> dict[str, Any]:
    """The default settings of ``model`` on ``target`` (raises ``ValueError`` for an unsupported pair)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    kind = target_kind(target)
    if (kind, model) not in _DEFAULTS:
        supported = sorted(m for k, m in _DEFAULTS if k == kind)
        raise ValueError(f"--model {model} is not available for --target {target}; use {', '.join(supported)}")
    return dict(_DEFAULTS[(kind, model)])


def build_model(target: str, model: str, *, L: int = 4, hidden: int = 64, layers: int = 4, ode_steps: int = 20,
                dt: float = 0.1, symmetry: str = "z2", depth: int = 1) -> nn.Module:
    """A fresh model (a :class:`Flow` or :class:`Z2Symmetrized`) with the attribute ``dim``.

    Args:
        target: one of :data:`TARGETS`; ``L`` is the Ising lattice size.
        model: ``ma`` (MLP potential, closed-form Laplacian), ``realnvp``, ``neuralrg`` (Ising only)
            or ``cnf`` (neural ODE).
        hidden: hidden width. layers: coupling layers (RealNVP), couplings per kernel (NeuralRG) or
            hidden layers (CNF). ode_steps, dt: RK4 steps and step size (MA, CNF). depth: NeuralRG's
            block layers per scale (each a disentangler and a decimator).
        symmetry: Ising only: ``none``; ``z2`` (MA: even lncosh potential without bias, a
            Z2-equivariant flow; others: :class:`Z2Symmetrized`); ``lattice`` (``z2`` and the MA
            potential averaged over lattice translations and the transposition).
    """
    kind = target_kind(target)
    defaults(target, model)  # validates the pair
    if symmetry not in SYMMETRIES:
        raise ValueError(f"unknown symmetry {symmetry!r}; use one of {', '.join(SYMMETRIES)}")
    side = IMAGES.get(kind)
    dim = side * side if side else {"toy": 2, "ising": L * L}[kind]
    bijector: nn.Module
    if model == "ma":
        even = kind == "ising" and symmetry != "none"
        potential = MLPPotential(dim, hidden, activation="lncosh" if even else "tanh", bias=not even)
        if kind == "ising" and symmetry == "lattice":
            potential = SymmetrizedPotential(potential, lattice_symmetries(L, L))
        bijector = MongeAmpereFlow(potential, steps=ode_steps, dt=dt)
    elif model == "realnvp":
        shape = (L, L) if kind == "ising" else (side, side) if side else None
        bijector = RealNVP(dim, layers=layers, hidden=hidden, mask="checkerboard" if shape else "alternating",
                           shape=shape)
    elif model == "neuralrg":
        bijector = NeuralRG(L, depth=depth, kernel_layers=layers, hidden=hidden)
    else:
        net = mlp([dim + 1, *([hidden] * layers), dim], activation=nn.Tanh)
        bijector = CNF(net, steps=ode_steps, dt=dt)
    if side:
        bijector = Chain([bijector, Logit(0.05)])
    flow = Flow(bijector, dim)
    if kind == "ising" and symmetry != "none" and model != "ma":
        return Z2Symmetrized(flow)
    return flow
