"""Every engine against float64 finite differences and against each other on random circuits.

The circuits use every parametrized gate (twice), shared parameters, affine expressions and a
constant angle; the values are batched. The reference gradient is a 4th-order central stencil
(h = 1e-3, truncation ~1e-12) of qdiff evaluated with ``method="backprop"`` under no_grad.
"""

from __future__ import annotations

import pytest
import torch

import qdiff
from qdiff.grad import finite_diff_engine, spsa_engine

from ._helpers import (
    EXACT_ENGINES,
    OUTPUTS,
    PARAMETRIZED_GATES,
    STATE,
    contract,
    cotangent,
    engine_gradient,
    fd_gradient,
    random_circuit,
    random_values,
)

SEEDS = (0, 1, 2)
PHASES = {0: 0.0, 1: 0.4, 2: -1.1}  # a global phase on two of the circuits
BATCH = (2,)


def _case(seed: int, output: str):  # type: ignore[no-untyped-def]
    circuit = random_circuit(seed, global_phase=PHASES[seed])
    values = random_values(circuit, BATCH, seed)
    fn = OUTPUTS[output] if output != "state" else STATE
    with torch.no_grad():
        reference_out = fn(circuit, values, "backprop")
    cot = cotangent(reference_out, seed)
    reference = fd_gradient(lambda v: fn(circuit, v, "backprop"), values, cot)
    return circuit, values, fn, reference_out, cot, reference


def test_random_circuits_cover_every_parametrized_gate_and_expression():
    for seed in SEEDS:
        c = random_circuit(seed)
        names = {op.name.split("_")[0] if op.name.startswith("pauli_rot") else op.name for op in c.ops}
        names = {"pauli_rot" if n == "pauli" else n for n in names}
        assert set(PARAMETRIZED_GATES) <= names
        exprs = {str(e) for op in c.ops for e in op.params}
        assert {"2*t + 0.1", "t - s", "-w[3]", "0.7"} <= exprs
        assert [p.name for p in c.parameters if p.name in ("t", "s")]  # shared scalars appear
        assert c.num_parameters == 6


@pytest.mark.parametrize("seed", SEEDS)
def test_fd_reference_is_accurate(seed):
    """The reference itself: two step sizes agree, so 1e-7 comparisons below are meaningful."""
    circuit, values, fn, _, cot, reference = _case(seed, "expval_list")
    other = fd_gradient(lambda v: fn(circuit, v, "backprop"), values, cot, h=5e-4)
    torch.testing.assert_close(reference, other, atol=1e-9, rtol=0)
    assert reference.abs().max() > 0.1  # not trivially zero


@pytest.mark.parametrize("engine", EXACT_ENGINES)
@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("seed", SEEDS)
def test_exact_engine_matches_finite_differences(seed, output, engine):
    circuit, values, fn, reference_out, cot, reference = _case(seed, output)
    out, grad = engine_gradient(lambda v: fn(circuit, v, engine), values, cot)
    torch.testing.assert_close(out, reference_out, atol=1e-12, rtol=0)
    assert grad.shape == values.shape
    torch.testing.assert_close(grad, reference, atol=1e-7, rtol=0)


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("seed", SEEDS)
def test_exact_engines_agree_with_each_other(seed, output):
    circuit = random_circuit(seed, global_phase=PHASES[seed])
    values = random_values(circuit, BATCH, seed)
    fn = OUTPUTS[output]
    grads = {}
    for engine in EXACT_ENGINES:
        out, grads[engine] = engine_gradient(lambda v: fn(circuit, v, engine), values,
                                             cotangent(fn(circuit, values, "backprop").detach(), seed))
    for a in EXACT_ENGINES:
        for b in EXACT_ENGINES:
            if a < b:
                torch.testing.assert_close(grads[a], grads[b], atol=1e-10, rtol=0, msg=f"{a} vs {b}")


@pytest.mark.parametrize("engine", ("backprop", "adjoint"))
@pytest.mark.parametrize("seed", SEEDS)
def test_state_gradient_matches_finite_differences(seed, engine):
    circuit, values, fn, reference_out, cot, reference = _case(seed, "state")
    out, grad = engine_gradient(lambda v: fn(circuit, v, engine), values, cot)
    torch.testing.assert_close(out, reference_out, atol=1e-12, rtol=0)
    torch.testing.assert_close(grad, reference, atol=1e-7, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_adjoint_and_backprop_state_gradients_agree(seed):
    circuit = random_circuit(seed, global_phase=PHASES[seed])
    values = random_values(circuit, BATCH, seed)
    cot = cotangent(STATE(circuit, values, "backprop").detach(), seed)
    _, a = engine_gradient(lambda v: STATE(circuit, v, "adjoint"), values, cot)
    _, b = engine_gradient(lambda v: STATE(circuit, v, "backprop"), values, cot)
    torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("output", ("expval_list", "state"))
def test_adjoint_gradient_wrt_initial_state_matches_backprop(output):
    """The adjoint backward also returns d/d(initial state); it must equal autograd's."""
    circuit = random_circuit(0, global_phase=0.4)
    values = random_values(circuit, (3,), 0)
    g = torch.Generator().manual_seed(5)
    init = torch.complex(torch.randn(3, 8, generator=g, dtype=torch.float64),
                         torch.randn(3, 8, generator=g, dtype=torch.float64))
    init = init / init.abs().square().sum(-1, keepdim=True).sqrt()
    fn = OUTPUTS.get(output)
    grads = {}
    for engine in ("backprop", "adjoint"):
        v = values.clone().requires_grad_(True)
        s = init.clone().requires_grad_(True)
        out = (qdiff.state(circuit, v, initial_state=s, method=engine) if fn is None
               else qdiff.expval(circuit, [qdiff.Z(0) @ qdiff.X(2), qdiff.Y(1)], v, initial_state=s, method=engine))
        loss = contract(out, cotangent(out.detach(), 3), 1).sum()
        grads[engine] = torch.autograd.grad(loss, [v, s])
    for a, b in zip(grads["adjoint"], grads["backprop"]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("method", ("finite_diff", finite_diff_engine(step=1e-4)), ids=("default", "step1e-4"))
@pytest.mark.parametrize("output", list(OUTPUTS))
def test_finite_diff_engine_is_close(output, method):
    seed = 1
    circuit, values, fn, reference_out, cot, reference = _case(seed, output)
    out, grad = engine_gradient(lambda v: fn(circuit, v, method), values, cot)
    torch.testing.assert_close(out, reference_out, atol=1e-12, rtol=0)
    torch.testing.assert_close(grad, reference, atol=1e-6, rtol=0)


def _spsa_circuit():  # type: ignore[no-untyped-def]
    t, s = qdiff.Parameter("t"), qdiff.Parameter("s")
    w = qdiff.ParameterVector("w", 2)
    c = (qdiff.Circuit(2).ry(t, 0).crx(2 * s + 0.3, 0, 1).rzz(t - w[0], 0, 1).u(w[1], -s, 0.2, 1)
         .cx(1, 0).rx(w[0], 1))
    return c, torch.tensor([0.4, -0.7, 1.1, 0.3], dtype=torch.float64)


def test_spsa_is_unbiased():
    """The mean of many independently seeded SPSA estimates converges to the true gradient: within
    4 standard errors (estimated from the spread across seeds) in every component. 200 seeds x 100
    directions give standard errors of ~0.005, enough to catch a 10% bias in the largest entries."""
    circuit, values = _spsa_circuit()
    obs = qdiff.Z(0) + 0.5 * qdiff.X(1)
    v = values.clone().requires_grad_(True)
    (true,) = torch.autograd.grad(qdiff.expval(circuit, obs, v, method="backprop"), v)
    estimates = []
    for seed in range(200):
        v = values.clone().requires_grad_(True)
        e = qdiff.expval(circuit, obs, v, method=spsa_engine(samples=100, seed=seed))
        estimates.append(torch.autograd.grad(e, v)[0])
    est = torch.stack(estimates)
    mean = est.mean(0)
    se = est.std(0) / est.shape[0] ** 0.5
    assert (se > 1e-4).all(), "SPSA estimates do not scatter across seeds: is it really random?"
    assert (se < 0.02).all()
    assert ((mean - true).abs() <= 4 * se).all(), ((mean - true) / se, true, se)


def test_spsa_many_samples_converge_and_are_reproducible():
    circuit, values = _spsa_circuit()
    obs = qdiff.Z(0) @ qdiff.Y(1) + qdiff.X(0)

    def grad(engine):  # type: ignore[no-untyped-def]
        v = values.clone().requires_grad_(True)
        return torch.autograd.grad(qdiff.expval(circuit, obs, v, method=engine), v)[0]

    true = grad("backprop")
    few = grad(spsa_engine(samples=1, seed=3))
    many = grad(spsa_engine(samples=4000, seed=3))
    assert (many - true).abs().max() < 0.1 < (few - true).abs().max()
    torch.testing.assert_close(grad(spsa_engine(samples=8, seed=11)), grad(spsa_engine(samples=8, seed=11)),
                               atol=0, rtol=0)
    assert not torch.equal(grad(spsa_engine(samples=8, seed=11)), grad(spsa_engine(samples=8, seed=12)))


def test_complex64_engines_agree_with_backprop():
    circuit = random_circuit(2)
    values = random_values(circuit, (2,), 2).float()
    grads = {}
    for engine in EXACT_ENGINES:
        v = values.clone().requires_grad_(True)
        out = qdiff.expval(circuit, qdiff.Z(0) @ qdiff.X(1), v, dtype=torch.complex64, method=engine)
        assert out.dtype == torch.float32
        grads[engine] = torch.autograd.grad(out.sum(), v)[0]
    for engine in ("adjoint", "param_shift"):
        torch.testing.assert_close(grads[engine], grads["backprop"], atol=2e-5, rtol=0)
