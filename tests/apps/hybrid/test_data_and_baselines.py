"""Noisy bars-and-stripes data (closed-form density against quadrature, normalisation, latent
patterns), the discretised Born baseline (a proper density, bins, sampling), the sample MMD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from qdiff.apps.hybrid import (
    DiscretizedBorn,
    NoisyBAS,
    RBFMixture,
    bits_to_index,
    born_only_depth,
    flow_only,
    index_to_bits,
    sample_mmd,
)
from qdiff.apps.qcbm import BornMachine, bars_and_stripes, born_circuit


def test_closed_form_conditional_density_matches_quadrature_over_the_contrast():
    data = NoisyBAS(1, 3, mu=1.2, contrast=0.8, sigma=0.5)
    x, _ = data.sample(4, seed=2)
    ours = data.log_prob_given(x)  # (4, K)
    patterns = data.patterns().tolist()
    for b in range(4):
        y = np.log(x[b].numpy()) - np.log1p(-x[b].numpy())
        jac = -np.sum(np.log(x[b].numpy() * (1 - x[b].numpy())))
        for j, z in enumerate(patterns):
            s = 2.0 * ((z >> np.arange(3)) & 1) - 1

            def integrand(eta):
                r = y - s * (data.mu + data.contrast * eta)
                return math.exp(-eta) * math.prod(math.exp(-v * v / (2 * data.sigma**2)) for v in r) / (
                    (2 * math.pi * data.sigma**2) ** 1.5)

            value, _ = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
            assert math.isclose(float(ours[b, j]), math.log(value) + jac, abs_tol=1e-7)


def test_density_is_normalised_and_samples_are_valid_patterns():
    data = NoisyBAS(1, 2)
    axis = torch.linspace(-12, 12, 481, dtype=torch.float64)  # integrate in logit space
    y = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    x = torch.sigmoid(y)
    density = (data.log_prob(x) + torch.log(x * (1 - x)).sum(-1)).exp()
    assert abs(float(density.sum() * (axis[1] - axis[0]) ** 2) - 1) < 1e-4
    big = NoisyBAS(3, 3)
    x, z = big.sample(500, seed=0)
    assert bool(bars_and_stripes(3, 3).valid[z.numpy()].all()) and x.shape == (500, 9)
    assert torch.equal(big.sample(5, seed=1)[0], big.sample(5, seed=1)[0])
    # the data's own NLL is the entropy: samples of the density score higher than shuffled pixels
    shuffled = x[:, torch.randperm(9, generator=torch.Generator().manual_seed(0))]
    assert big.log_prob(x).mean() > big.log_prob(shuffled).mean() + 1


def test_bad_data_settings_are_explained():
    with pytest.raises(ValueError, match="at most 12"):
        NoisyBAS(4, 4)
    with pytest.raises(ValueError, match="sigma and contrast must be positive"):
        NoisyBAS(2, 2, sigma=0)


def test_bits_round_trip():
    z = torch.arange(64)
    assert torch.equal(bits_to_index(index_to_bits(z, 6)), z)
    assert index_to_bits(torch.tensor(6), 3).tolist() == [0, 1, 1]  # little-endian


def test_discretized_born_is_a_proper_density_and_samples_its_bins():
    machine = BornMachine(born_circuit(4, 2, [(0, 1), (1, 2), (2, 3)]), seed=3)
    model = DiscretizedBorn(machine, dim=2, bits=2)
    centres = (torch.arange(4, dtype=torch.float64) + 0.5) / 4
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        assert abs(float(model.log_prob(grid).exp().sum() / 16) - 1) < 1e-12  # piecewise constant, cell area 1/16
    x = model.sample(20000, seed=0)
    assert ((x >= 0) & (x < 1)).all()
    freq = torch.bincount(model.bins(x), minlength=16).double() / 20000
    p = machine.probs().detach()
    assert ((freq - p).abs() < 5 * (p * (1 - p) / 20000).sqrt() + 1e-3).all()
    with pytest.raises(ValueError, match="needs 6 qubits, got 4"):
        DiscretizedBorn(machine, dim=2, bits=3)


def test_flow_only_lives_in_the_unit_box_and_parameter_matching():
    torch.manual_seed(0)
    flow = flow_only(3, hidden=8, layers=2)
    x = flow.sample(100)
    assert ((x > 0) & (x < 1)).all() and torch.isfinite(flow.log_prob(x)).all()
    depth = born_only_depth(12, 1500)
    assert abs((3 * depth + 1) * 12 - 1500) <= 18


def test_sample_mmd_separates_distributions():
    kernel = RBFMixture()
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(800, 2, generator=g), torch.rand(800, 2, generator=g)
    c = torch.rand(800, 2, generator=g) * 0.5
    same, different = float(sample_mmd(a, b, kernel)), float(sample_mmd(a, c, kernel))
    assert abs(same) < 5e-3 < different
    with pytest.raises(ValueError, match="positive"):
        RBFMixture((0.1, -1.0))
