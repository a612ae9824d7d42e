"""MMD, KL and the metrics against direct numpy formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qdiff.apps.qcbm import MixtureKernel, kl_divergence, mmd, nll, total_variation, valid_rate
from qdiff.apps.qcbm import losses


def _direct_mmd(p, q, sigmas, encoding, normalize):
    total = 0.0
    for x in range(len(p)):
        for y in range(len(p)):
            d = bin(x ^ y).count("1") if encoding == "bits" else (x - y) ** 2
            k = sum(np.exp(-d / (2 * s)) for s in sigmas) / (len(sigmas) if normalize else 1)
            total += (p[x] - q[x]) * k * (p[y] - q[y])
    return total


@pytest.mark.parametrize("encoding", ["bits", "integer"])
@pytest.mark.parametrize("normalize", [True, False])
def test_mmd_matches_the_double_sum(encoding, normalize):
    rng = np.random.default_rng(0)
    p, q = rng.random(16), rng.random(16)
    p, q = p / p.sum(), q / q.sum()
    sigmas = (0.5, 1.0, 4.0)
    kernel = MixtureKernel(4, sigmas, encoding, normalize)
    got = float(mmd(torch.tensor(p), torch.tensor(q), kernel))
    assert got == pytest.approx(_direct_mmd(p, q, sigmas, encoding, normalize), rel=1e-12)
    assert float(mmd(torch.tensor(p), torch.tensor(p), kernel)) == 0.0


@pytest.mark.parametrize("encoding", ["bits", "integer"])
def test_structured_kernel_application_equals_the_dense_matrix(monkeypatch, encoding):
    rng = np.random.default_rng(1)
    v = torch.tensor(rng.standard_normal((2, 2**7)))
    dense = MixtureKernel(7, (0.25, 2.0, 30.0), encoding).apply(v)
    monkeypatch.setattr(losses, "DENSE_LIMIT", 3)  # force the tensor-product / FFT path
    structured = MixtureKernel(7, (0.25, 2.0, 30.0), encoding).apply(v)
    assert torch.allclose(structured, dense, atol=1e-10)


def test_kl_tv_nll_and_valid_rate_against_numpy():
    target = np.array([0.5, 0.5, 0.0, 0.0])
    model = np.array([0.4, 0.3, 0.2, 0.1])
    t, m = torch.tensor(target), torch.tensor(model)
    assert float(kl_divergence(t, m)) == pytest.approx(0.5 * np.log(0.5 / 0.4) + 0.5 * np.log(0.5 / 0.3))
    assert float(total_variation(t, m)) == pytest.approx(0.3)
    assert float(nll(m, np.array([0, 1, 1]))) == pytest.approx(-(np.log(0.4) + 2 * np.log(0.3)) / 3)
    assert float(valid_rate(m, target > 0)) == pytest.approx(0.7)
    assert torch.isfinite(kl_divergence(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0])))


def test_kernel_rejects_bad_bandwidths():
    with pytest.raises(ValueError, match="positive"):
        MixtureKernel(3, (1.0, -1.0))
    with pytest.raises(ValueError, match="encoding"):
        MixtureKernel(3, (1.0,), "gray")
