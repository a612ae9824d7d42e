"""Exact references: Ising partition functions, the continuous relaxation, the toys' quadrature."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from qdiff.flows import (
    T_CRITICAL,
    IsingRelaxation,
    NeuralRG,
    adjacency,
    block_indices,
    brute_force_log_z,
    ising_log_z,
    toy_target,
    transfer_matrix_log_z,
)


@pytest.mark.parametrize("L", [2, 3])
@pytest.mark.parametrize("T", [1.5, T_CRITICAL, 3.5])
def test_kaufman_and_transfer_matrix_match_brute_force(L, T):
    exact = brute_force_log_z(L, T)
    assert ising_log_z(L, T) == pytest.approx(exact, rel=1e-12)
    assert transfer_matrix_log_z(L, T) == pytest.approx(exact, rel=1e-12)


def test_kaufman_matches_transfer_matrix_and_the_papers_values():
    for L in (4, 5, 6):
        assert ising_log_z(L, 2.0) == pytest.approx(transfer_matrix_log_z(L, 2.0), rel=1e-12)
    assert ising_log_z(4, T_CRITICAL) / 16 == pytest.approx(0.97012, abs=5e-6)
    assert ising_log_z(8, T_CRITICAL) / 64 == pytest.approx(0.93972, abs=5e-6)
    assert -IsingRelaxation(4).exact_log_z / 16 == pytest.approx(-2.33605, abs=5e-6)
    assert -IsingRelaxation(8).exact_log_z / 64 == pytest.approx(-2.32273, abs=5e-6)


@pytest.mark.parametrize("L", [2, 3])
def test_relaxation_log_z_is_the_sum_over_spin_sectors(L):
    """Z_cont = sum_s 2^-N (2 pi)^(N/2) det(K)^(1/2) exp(s^T K s / 2), summed explicitly."""
    target = IsingRelaxation(L, 2.5)
    n = L * L
    spins = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=n)), dtype=torch.float64)
    quad = 0.5 * ((spins @ target.K) * spins).sum(1)
    log_z = (torch.logsumexp(quad, 0) - n * math.log(2) + n / 2 * math.log(2 * math.pi)
             + torch.linalg.slogdet(target.K)[1] / 2)
    assert target.exact_log_z == pytest.approx(float(log_z), rel=1e-12)
    assert float(torch.linalg.eigvalsh(target.K).min()) == pytest.approx(0.1)


def test_relaxation_log_prob_is_even_and_adjacency_counts_bonds():
    assert adjacency(2).sum(1).tolist() == [4.0] * 4  # L = 2: each neighbour pair twice
    assert adjacency(4).sum(1).tolist() == [4.0] * 16
    target = IsingRelaxation(3)
    x = torch.randn(5, 9, dtype=torch.float64)
    torch.testing.assert_close(target.log_prob(-x), target.log_prob(x))


def test_neuralrg_blocks_tile_each_scale():
    for d, offset in ((1, 0), (1, 1), (2, 0)):
        blocks = block_indices(8, d, offset)
        assert len(set(blocks.reshape(-1).tolist())) == blocks.numel()  # disjoint
        assert all(i // 8 % d == 0 and i % 8 % d == 0 for i in blocks.reshape(-1).tolist())
    assert [len(layer.blocks) for layer in NeuralRG(8).layers] == [16, 16, 4, 4, 1]
    with pytest.raises(ValueError, match="power of two"):
        NeuralRG(6)


def test_toy_normalisers_by_quadrature_and_samples():
    ring = toy_target("ring2d")
    assert ring.exact_log_z == pytest.approx(2.533672, abs=1e-6)
    # the mixture of four unit-weight Gaussians of std 0.5: Z = 4 * 2 pi 0.25
    assert toy_target("mog").exact_log_z == pytest.approx(math.log(4 * 2 * math.pi * 0.25), abs=1e-9)
    samples = ring.sample(4000, torch.Generator().manual_seed(0))
    assert samples.norm(dim=1).mean().item() == pytest.approx(2 + 0.4**2 / 2, abs=0.02)  # E r = 2 + s^2/2
    with pytest.raises(ValueError, match="unknown toy target"):
        toy_target("spiral")
