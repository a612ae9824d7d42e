"""QuantumLayer: shapes, gradients against qdiff.expval and finite differences, training in
nn.Sequential, method/dtype/device handling, state_dict, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import qdiff
from qdiff.grad import ENGINES

OBS = [qdiff.Z(0), qdiff.Z(1), qdiff.Z(0) @ qdiff.X(1)]


def make_circuit() -> tuple[qdiff.Circuit, qdiff.ParameterVector, qdiff.ParameterVector]:
    """Two qubits, inputs x (2) with data re-uploading and an affine angle, weights w (6)."""
    x, w = qdiff.ParameterVector("x", 2), qdiff.ParameterVector("w", 6)
    c = qdiff.Circuit(2)
    c.ry(x[0], 0).ry(x[1], 1).rz(w[0], 0).ry(w[1], 1).cx(0, 1)
    c.ry(w[2], 0).rx(w[3], 1).rz(2 * x[0] - 0.3, 1).cx(1, 0).ry(w[4], 0).ry(w[5] + x[1], 1)
    return c, x, w


def make_layer(observables=OBS, **kwargs) -> tuple[qdiff.QuantumLayer, qdiff.ParameterVector,
                                                  qdiff.ParameterVector]:
    c, x, w = make_circuit()
    kwargs.setdefault("seed", 0)
    return qdiff.QuantumLayer(c, observables, input_params=[x], **kwargs), x, w


def inputs(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype) * 3


# -- shapes -----------------------------------------------------------------------------------
def test_output_shapes():
    layer, _, _ = make_layer()
    assert layer.num_weights == 6 and layer.num_inputs == 2 and layer.output_shape == (3,)
    assert layer(inputs(5, 2)).shape == (5, 3)
    assert layer(inputs(2)).shape == (3,)
    assert layer(inputs(4, 3, 2)).shape == (4, 3, 3)
    single, _, _ = make_layer(qdiff.Z(0) @ qdiff.Z(1))
    assert single(inputs(5, 2)).shape == (5,) and single.output_shape == ()
    p, _, _ = make_layer("probs")
    out = p(inputs(5, 2))
    assert out.shape == (5, 4) and p.output_shape == (4,)
    torch.testing.assert_close(out.sum(-1), torch.ones(5, dtype=torch.float64))
    marginal, _, _ = make_layer("probs", qubits=[1])
    assert marginal(inputs(5, 2)).shape == (5, 2)


def test_layer_without_inputs():
    c, x, w = make_circuit()
    layer = qdiff.QuantumLayer(c, OBS, seed=0)  # every parameter is a weight
    assert layer.num_inputs == 0 and layer.num_weights == 8
    assert layer.weight_params == c.parameters
    assert layer().shape == (3,)
    assert layer(torch.empty(4, 0)).shape == (4, 3)
    torch.testing.assert_close(layer(), qdiff.expval(c, OBS, layer.weights.detach()))


def test_parameter_order_is_respected():
    """Weights and inputs in an order unlike circuit.parameters land on the right parameters."""
    c, x, w = make_circuit()
    weight_params = [w[5], w[0], *w[1:5]]
    input_params = [x[1], x[0]]
    layer = qdiff.QuantumLayer(c, OBS, weight_params=weight_params, input_params=input_params, seed=3)
    xs = inputs(5, 2)
    values = {p: layer.weights.detach()[i] for i, p in enumerate(weight_params)}
    values.update({p: xs[:, i] for i, p in enumerate(input_params)})
    torch.testing.assert_close(layer(xs), qdiff.expval(c, OBS, values))


# -- values and gradients --------------------------------------------------------------------
def test_matches_expval_and_gradients():
    layer, x, w = make_layer()
    xs = inputs(5, 2).requires_grad_()
    out = layer(xs)
    weights = layer.weights.detach().clone().requires_grad_()
    xs2 = xs.detach().clone().requires_grad_()
    ref = qdiff.expval(layer.circuit, OBS, {w: weights, x: xs2})
    torch.testing.assert_close(out, ref)
    cot = inputs(5, 3, seed=2)
    (out * cot).sum().backward()
    (ref * cot).sum().backward()
    assert layer.weights.grad is not None and xs.grad is not None
    torch.testing.assert_close(layer.weights.grad, weights.grad)
    torch.testing.assert_close(xs.grad, xs2.grad)


@pytest.mark.parametrize("observables", [OBS, "probs"])
def test_gradients_match_finite_differences(observables):
    layer, _, _ = make_layer(observables)

    def f(weights: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"weights": weights}, (xs,))

    weights = layer.weights.detach().clone().requires_grad_()
    xs = inputs(3, 2).requires_grad_()
    assert torch.autograd.gradcheck(f, (weights, xs), eps=1e-6, atol=1e-6)


# -- training ---------------------------------------------------------------------------------
def test_sequential_trains_with_adam():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X = torch.rand(32, 4, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.sin(X[:, :1] + X[:, 1:2]) * X[:, 2:3] + 0.3  # smooth toy regression target
    c, x, w = make_circuit()
    model = nn.Sequential(nn.Linear(4, 2), qdiff.QuantumLayer(c, OBS, input_params=[x], seed=0),
                          nn.Linear(3, 1)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert model[1].weights.grad is not None and model[0].weight.grad.abs().sum() > 0
    assert losses[-1] < 0.5 * losses[0], losses[::10]
    assert losses[-1] < 0.5 * y.var(unbiased=False).item()  # better than predicting the mean


def test_optimizer_updates_weights_and_no_grad():
    layer, _, _ = make_layer()
    assert [name for name, _ in layer.named_parameters()] == ["weights"]
    before = layer.weights.detach().clone()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(inputs(4, 2)).sum().backward()
    opt.step()
    assert not torch.equal(before, layer.weights.detach())
    with torch.no_grad():
        out = layer(inputs(4, 2))
    assert out.grad_fn is None and not out.requires_grad


# -- method --------------------------------------------------------------------------------------
def test_method_is_honoured():
    calls = []

    def counting_param_shift(*args, **kwargs):
        calls.append(kwargs)
        return ENGINES["param_shift"](*args, **kwargs)

    xs = inputs(4, 2)
    grads = {}
    for method in ["adjoint", "param_shift", counting_param_shift, "spsa"]:
        layer, _, _ = make_layer(method=method)
        layer(xs).sum().backward()
        grads[method if isinstance(method, str) else "counting"] = layer.weights.grad
    assert len(calls) == 1
    torch.testing.assert_close(grads["param_shift"], grads["adjoint"])
    torch.testing.assert_close(grads["counting"], grads["adjoint"])
    assert not torch.allclose(grads["spsa"], grads["adjoint"], atol=1e-3)  # a different engine ran
    assert "method='param_shift'" in repr(make_layer(method="param_shift")[0])


def test_unknown_method_is_a_clear_error():
    layer, _, _ = make_layer(method="magic")
    with pytest.raises(qdiff.DifferentiationError, match="unknown gradient method 'magic'"):
        layer(inputs(2))
    with pytest.raises(TypeError, match="method"):
        make_layer(method=3)


# -- dtype and device ----------------------------------------------------------------------------
def test_complex64_and_float32_paths():
    layer64, _, _ = make_layer()
    xs = inputs(5, 2)
    ref = layer64(xs)
    assert ref.dtype == torch.float64 and layer64.dtype == torch.complex128

    layer32, _, _ = make_layer(dtype=torch.complex64)
    assert layer32.weights.dtype == torch.float32 and layer32.dtype == torch.complex64
    out = layer32(xs.float())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref.float(), atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert layer32.weights.grad.dtype == torch.float32

    layer64.to(torch.float32)
    assert layer64.dtype == torch.complex64 and layer64(xs).dtype == torch.float32
    layer64.double()
    assert layer64(xs.float()).dtype == torch.float64  # float32 inputs follow the layer's dtype


def test_float32_sequential_with_complex64_layer():
    c, x, _ = make_circuit()
    model = nn.Sequential(nn.Linear(4, 2), qdiff.QuantumLayer(c, OBS, input_params=[x], seed=0,
                                                               dtype=torch.complex64), nn.Linear(3, 1))
    out = model(torch.rand(8, 4))
    assert out.shape == (8, 1) and out.dtype == torch.float32
    out.sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda():
    layer, _, _ = make_layer()
    xs = inputs(5, 2)
    ref = layer(xs)
    layer.to("cuda")
    assert layer.weights.device.type == "cuda"
    xs_cuda = xs.cuda().requires_grad_()
    out = layer(xs_cuda)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), ref.detach())
    out.sum().backward()
    assert layer.weights.grad.device.type == "cuda" and xs_cuda.grad.device.type == "cuda"


def test_inputs_on_another_device_is_a_clear_error():
    layer, _, _ = make_layer()
    with pytest.raises(qdiff.ParameterError, match="inputs are on meta"):
        layer(torch.empty(3, 2, device="meta"))


# -- weights -----------------------------------------------------------------------------------
def test_weight_initialisation():
    a, b = make_layer(seed=7)[0], make_layer(seed=7)[0]
    torch.testing.assert_close(a.weights, b.weights)
    assert ((a.weights >= 0) & (a.weights < 2 * math.pi)).all()
    assert not torch.equal(a.weights, make_layer(seed=8)[0].weights)
    g = torch.Generator().manual_seed(7)
    torch.testing.assert_close(make_layer(seed=None, generator=g)[0].weights, a.weights)
    init = torch.arange(6, dtype=torch.float64) / 10
    torch.testing.assert_close(make_layer(seed=None, init_weights=init)[0].weights.detach(), init)
    a.reset_parameters(seed=8)
    torch.testing.assert_close(a.weights, make_layer(seed=8)[0].weights)


def test_state_dict_round_trip():
    a, _, _ = make_layer(seed=1)
    b, _, _ = make_layer(seed=2)
    assert list(a.state_dict()) == ["weights"]
    xs = inputs(4, 2)
    assert not torch.allclose(a(xs), b(xs))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b(xs), a(xs))


def test_layer_keeps_its_own_circuit():
    c, x, _ = make_circuit()
    layer = qdiff.QuantumLayer(c, OBS, input_params=[x], seed=0)
    before = layer(inputs(3, 2))
    c.rx(qdiff.Parameter("late"), 0)  # editing the user's circuit later does not break the layer
    torch.testing.assert_close(layer(inputs(3, 2)), before)


def test_extra_repr():
    text = repr(make_layer()[0])
    for part in ["qubits=2", "weights=6", "inputs=2", "outputs=3 expvals", "method='auto'", "float64"]:
        assert part in text
    assert "probs(2) on qubits [1]" in repr(make_layer("probs", qubits=[1])[0])


# -- errors -------------------------------------------------------------------------------------
def test_parameters_must_partition_the_circuit():
    c, x, w = make_circuit()
    with pytest.raises(qdiff.ParameterError, match=r"\['w\[5\]'\] are in neither"):
        qdiff.QuantumLayer(c, OBS, weight_params=w[:5], input_params=[x])
    with pytest.raises(qdiff.ParameterError, match=r"\['stray'\] are not in the circuit"):
        qdiff.QuantumLayer(c, OBS, weight_params=[w, qdiff.Parameter("stray")], input_params=[x])
    with pytest.raises(qdiff.ParameterError, match=r"\['x\[0\]'\] are in both"):
        qdiff.QuantumLayer(c, OBS, weight_params=[w, x[0]], input_params=[x])
    with pytest.raises(qdiff.ParameterError, match="more than once"):
        qdiff.QuantumLayer(c, OBS, input_params=[x, x[1]])
    with pytest.raises(qdiff.ParameterError, match="Parameters or ParameterVectors"):
        qdiff.QuantumLayer(c, OBS, input_params=["x"])
    with pytest.raises(TypeError, match="qdiff Circuit"):
        qdiff.QuantumLayer("not a circuit", OBS)


def test_bad_inputs_are_clear_errors():
    layer, _, _ = make_layer()
    with pytest.raises(qdiff.ParameterError, match=r"shape \(\*batch, 2\).*got shape \(5, 3\)"):
        layer(inputs(5, 3))
    with pytest.raises(qdiff.ParameterError, match="got a scalar"):
        layer(torch.tensor(0.5, dtype=torch.float64))
    with pytest.raises(qdiff.ParameterError, match="got none"):
        layer()
    with pytest.raises(qdiff.ParameterError, match="real"):
        layer(torch.ones(3, 2, dtype=torch.complex128))
    c, x, _ = make_circuit()
    one = qdiff.QuantumLayer(c, OBS, input_params=[x[0]], seed=0)
    with pytest.raises(qdiff.ParameterError, match="unsqueeze"):
        one(inputs(5))


def test_bad_observables_and_options_are_clear_errors():
    c, x, _ = make_circuit()
    with pytest.raises(qdiff.ObservableError, match="unknown observables string 'prob'"):
        qdiff.QuantumLayer(c, "prob", input_params=[x])
    with pytest.raises(qdiff.ObservableError, match="qubits= only applies"):
        qdiff.QuantumLayer(c, OBS, input_params=[x], qubits=[0])
    with pytest.raises(qdiff.QubitError, match="out of range"):
        qdiff.QuantumLayer(c, "probs", input_params=[x], qubits=[2])
    with pytest.raises(qdiff.ObservableError, match="only 2 qubit"):
        qdiff.QuantumLayer(c, [qdiff.Z(3)], input_params=[x])
    with pytest.raises(qdiff.ObservableError, match="PauliSums"):
        qdiff.QuantumLayer(c, [qdiff.Z(0), "Z1"], input_params=[x])
    with pytest.raises(qdiff.ObservableError, match="no observables"):
        qdiff.QuantumLayer(c, [], input_params=[x])
    with pytest.raises(qdiff.ObservableError, match="Hermitian"):
        qdiff.QuantumLayer(c, 1j * qdiff.Z(0), input_params=[x])
    with pytest.raises(TypeError, match="dtype"):
        qdiff.QuantumLayer(c, OBS, input_params=[x], dtype=torch.float16)
    with pytest.raises(qdiff.ParameterError, match=r"shape \(6,\)"):
        qdiff.QuantumLayer(c, OBS, input_params=[x], init_weights=torch.zeros(5))
    with pytest.raises(qdiff.ParameterError, match="not both"):
        qdiff.QuantumLayer(c, OBS, input_params=[x], init_weights=torch.zeros(6), seed=0)
    layer = qdiff.QuantumLayer(c, OBS, input_params=[x], seed=0).half()
    with pytest.raises(TypeError, match="float32 or torch.float64"):
        layer(inputs(2))
