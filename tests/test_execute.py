"""The public execution API: batching, initial states, dict values, sampling, gradients, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

import qdiff
from qdiff import Circuit, Parameter, ParameterVector, X, Y, Z


def _ansatz(n: int = 3) -> tuple[Circuit, ParameterVector, Parameter]:
    w = ParameterVector("w", 2 * n)
    theta = Parameter("theta")
    c = Circuit(n)
    for q in range(n):
        c.ry(w[2 * q], q).rz(2 * w[2 * q + 1] - theta, q)
    for q in range(n - 1):
        c.cx(q, q + 1)
    c.crx(theta + 0.3, n - 1, 0).rzz(-w[0], 0, n - 1).u(w[1], theta, w[2], 1)
    return c, w, theta


HAMILTONIAN = Z(0) @ Z(1) + 0.5 * X(2) - 0.25 * Y(0) @ X(1) + 0.1


def _values(shape, p, seed=0):
    return torch.tensor(np.random.default_rng(seed).uniform(-np.pi, np.pi, tuple(shape) + (p,)))


# -- batching ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["state", "probs", "expval", "expval_list", "var", "marginal"])
def test_batched_equals_per_sample(fn):
    c, _, _ = _ansatz()
    values = _values((5, 3), c.num_parameters)
    call = {
        "state": lambda v: qdiff.state(c, v),
        "probs": lambda v: qdiff.probs(c, v),
        "marginal": lambda v: qdiff.probs(c, v, qubits=[2, 0]),
        "expval": lambda v: qdiff.expval(c, HAMILTONIAN, v),
        "expval_list": lambda v: qdiff.expval(c, [HAMILTONIAN, Z(1), X(0) @ X(2)], v),
        "var": lambda v: qdiff.var(c, [HAMILTONIAN, Z(1)], v),
    }[fn]
    batched = call(values)
    loop = torch.stack([torch.stack([call(values[i, j]) for j in range(3)]) for i in range(5)])
    assert batched.shape == loop.shape and batched.shape[:2] == (5, 3)
    torch.testing.assert_close(batched, loop, atol=1e-12, rtol=0)


def test_output_shapes():
    c, _, _ = _ansatz()
    v = _values((4,), c.num_parameters)
    assert qdiff.state(c, v).shape == (4, 8)
    assert qdiff.probs(c, v, qubits=[1]).shape == (4, 2)
    assert qdiff.expval(c, Z(0), v).shape == (4,)
    assert qdiff.expval(c, [Z(0), Z(1)], v).shape == (4, 2)
    assert qdiff.var(c, [Z(0)], v).shape == (4, 1)
    assert qdiff.expval(c, Z(0), v[0]).shape == ()
    assert qdiff.state(Circuit(2).h(0)).shape == (4,)
    assert qdiff.state(c, v[None, None]).shape == (1, 1, 4, 8)


def test_values_as_list_and_numpy():
    c, _, _ = _ansatz()
    v = _values((), c.num_parameters)
    ref = qdiff.state(c, v)
    torch.testing.assert_close(qdiff.state(c, v.tolist()), ref)
    torch.testing.assert_close(qdiff.state(c, v.numpy()), ref)


# -- initial states ----------------------------------------------------------------------------------

def test_initial_state_as_basis_index():
    c, _, _ = _ansatz()
    v = _values((2,), c.num_parameters)
    for index in (0, 5, 7):
        basis = torch.zeros(8, dtype=torch.complex128)
        basis[index] = 1
        torch.testing.assert_close(qdiff.state(c, v, initial_state=index), qdiff.state(c, v, initial_state=basis))
    assert qdiff.state(Circuit(3), initial_state=6).tolist() == [0, 0, 0, 0, 0, 0, 1, 0]


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_basis_rows_from_numpy_and_from_torch_agree(dtype, monkeypatch):
    """``|j>`` is made in numpy on the CPU and by torch elsewhere: the same row, dtype and shape
    (the torch branch forced here by emptying the numpy dtype table), and either gives the same
    batched states."""
    from qdiff import execute

    c, _, _ = _ansatz()
    v = _values((3,), c.num_parameters)
    fast = execute._basis_row(5, 8, dtype, torch.device("cpu"))
    batched = qdiff.state(c, v, initial_state=5, dtype=dtype)
    monkeypatch.setattr(execute, "_NUMPY_COMPLEX", {})
    slow = execute._basis_row(5, 8, dtype, torch.device("cpu"))
    assert fast.dtype == slow.dtype == dtype and fast.shape == slow.shape == (1, 8)
    assert torch.equal(fast, slow) and fast[0, 5] == 1 and fast.abs().sum() == 1
    torch.testing.assert_close(qdiff.state(c, v, initial_state=5, dtype=dtype), batched, atol=0, rtol=0)


def test_initial_state_tensor_broadcasts_with_values():
    c, _, _ = _ansatz()
    rng = np.random.default_rng(4)
    psi = rng.normal(size=(4, 1, 8)) + 1j * rng.normal(size=(4, 1, 8))
    psi = torch.tensor(psi / np.linalg.norm(psi, axis=-1, keepdims=True))
    values = _values((3,), c.num_parameters, seed=5)
    out = qdiff.state(c, values, initial_state=psi)
    assert out.shape == (4, 3, 8)
    for i in range(4):
        for j in range(3):
            torch.testing.assert_close(out[i, j], qdiff.state(c, values[j], initial_state=psi[i, 0]),
                                       atol=1e-12, rtol=0)
    # one state for a batch of values, and a batch of states for one set of values
    assert qdiff.state(c, values, initial_state=psi[0, 0]).shape == (3, 8)
    assert qdiff.expval(c, Z(0), values[0], initial_state=psi[:, 0]).shape == (4,)


def test_initial_state_without_parameters():
    c = Circuit(2).h(0).cx(0, 1)
    psi = torch.eye(4, dtype=torch.complex128)
    out = qdiff.state(c, initial_state=psi)
    assert out.shape == (4, 4)
    torch.testing.assert_close(out[0], qdiff.state(c))


# -- dict values ---------------------------------------------------------------------------------------

def test_dict_values_with_parameters_and_vectors():
    c, w, theta = _ansatz()
    v = _values((), c.num_parameters)
    order = {p: i for i, p in enumerate(c.parameters)}
    as_dict = {theta: v[order[theta]], w: torch.stack([v[order[p]] for p in w])}
    torch.testing.assert_close(qdiff.state(c, as_dict), qdiff.state(c, v))
    # plain floats and a numpy array for the vector
    as_dict = {theta: float(v[order[theta]]), w: np.array([float(v[order[p]]) for p in w])}
    torch.testing.assert_close(qdiff.state(c, as_dict), qdiff.state(c, v))


def test_batched_dict_values_broadcast():
    c, w, theta = _ansatz()
    v = _values((5,), c.num_parameters, seed=2)
    order = {p: i for i, p in enumerate(c.parameters)}
    as_dict = {w: torch.stack([v[:, order[p]] for p in w], dim=-1), theta: v[:, order[theta]]}
    torch.testing.assert_close(qdiff.expval(c, HAMILTONIAN, as_dict), qdiff.expval(c, HAMILTONIAN, v))
    shared = {w: torch.stack([v[:, order[p]] for p in w], dim=-1), theta: 0.25}  # scalar broadcasts
    v2 = v.clone()
    v2[:, order[theta]] = 0.25
    torch.testing.assert_close(qdiff.expval(c, HAMILTONIAN, shared), qdiff.expval(c, HAMILTONIAN, v2))


def test_dict_values_keep_gradients():
    c, w, theta = _ansatz()
    t = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    wv = torch.linspace(-1, 1, len(w), dtype=torch.float64, requires_grad=True)
    qdiff.expval(c, HAMILTONIAN, {w: wv, theta: t}).backward()
    assert t.grad is not None and wv.grad is not None and wv.grad.shape == (len(w),)


# -- sampling ----------------------------------------------------------------------------------------

def _full_support_circuit() -> tuple[Circuit, torch.Tensor]:
    c = Circuit(3).ry(0.9, 0).ry(2.1, 1).ry(1.3, 2).cx(0, 1).crx(0.7, 1, 2).ry(0.5, 0)
    return c, qdiff.probs(c)


def test_samples_follow_the_probabilities():
    c, p = _full_support_circuit()
    assert p.min() > 0.005
    shots = 20_000
    s = qdiff.sample(c, None, shots, seed=11)
    assert s.shape == (shots,) and s.dtype == torch.int64
    assert 0 <= int(s.min()) and int(s.max()) < 8
    observed = np.bincount(s.numpy(), minlength=8)
    assert chisquare(observed, p.numpy() * shots).pvalue > 1e-3
    # a wrong distribution is rejected (the test can fail)
    assert chisquare(observed, np.full(8, shots / 8)).pvalue < 1e-3


def test_marginal_and_batched_samples_follow_their_probabilities():
    c, w, _ = _ansatz()
    values = _values((3,), c.num_parameters, seed=8)
    shots = 20_000
    s = qdiff.sample(c, values, shots, seed=3, qubits=[2, 0])
    assert s.shape == (3, shots)
    p = qdiff.probs(c, values, qubits=[2, 0]).numpy()
    for b in range(3):
        observed = np.bincount(s[b].numpy(), minlength=4)
        support = p[b] > 1e-12
        assert observed[~support].sum() == 0
        assert chisquare(observed[support], p[b][support] * shots).pvalue > 1e-3


def test_seed_reproducibility_and_global_rng_untouched():
    c, _ = _full_support_circuit()
    state = torch.get_rng_state()
    a = qdiff.sample(c, None, 500, seed=7)
    b = qdiff.sample(c, None, 500, seed=7)
    assert torch.equal(torch.get_rng_state(), state), "a seeded sample must not touch the global RNG"
    assert torch.equal(a, b)
    assert not torch.equal(a, qdiff.sample(c, None, 500, seed=8))
    torch.manual_seed(0)
    x = qdiff.sample(c, None, 500)
    torch.manual_seed(0)
    assert torch.equal(x, qdiff.sample(c, None, 500))


def test_counts_and_bitstrings_format():
    c = Circuit(3).x(0).h(2)
    s = qdiff.sample(c, None, 400, seed=1)
    counts = qdiff.counts(s, 3)
    assert set(counts) == {"001", "101"}, "qubit 0 is the rightmost character, as in Qiskit"
    assert sum(counts.values()) == 400
    assert list(counts.values()) == sorted(counts.values(), reverse=True)
    assert all(isinstance(k, str) and isinstance(v, int) for k, v in counts.items())
    assert qdiff.counts(torch.tensor([3, 0, 3]), 2) == {"11": 2, "00": 1}
    bits = qdiff.bitstrings(torch.tensor([[1, 6], [0, 7]]), 3)
    assert bits.shape == (2, 2) and bits.tolist() == [["001", "110"], ["000", "111"]]
    assert qdiff.bitstrings(np.array([2]), 4).tolist() == ["0010"]
    with pytest.raises(ValueError, match="1-D"):
        qdiff.counts(torch.zeros(2, 3, dtype=torch.long), 2)


def test_counts_agree_with_qiskit_aer_convention():
    from qiskit import QuantumCircuit, transpile
    from qiskit_aer import AerSimulator

    q = QuantumCircuit(3)
    q.x(0)
    q.x(2)
    q.measure_all()
    aer = AerSimulator().run(transpile(q, AerSimulator()), shots=10).result().get_counts()
    ours = qdiff.counts(qdiff.sample(Circuit(3).x(0).x(2), None, 10, seed=0), 3)
    assert ours == aer == {"101": 10}


# -- gradients -------------------------------------------------------------------------------------------

def _central_differences(f, v: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    grads = []
    for i in range(v.numel()):
        e = torch.zeros_like(v)
        e.view(-1)[i] = h
        grads.append((f(v + e) - f(v - e)) / (2 * h))
    return torch.stack(grads, dim=-1)  # (*out, P)


@pytest.mark.parametrize("output", ["expval", "probs", "var", "state_real", "state_imag", "marginal"])
def test_backprop_gradients_match_finite_differences(output):
    c, _, _ = _ansatz()
    f = {
        "expval": lambda v: qdiff.expval(c, HAMILTONIAN, v, method="backprop"),
        "probs": lambda v: qdiff.probs(c, v, method="backprop"),
        "marginal": lambda v: qdiff.probs(c, v, qubits=[2, 0], method="backprop"),
        "var": lambda v: qdiff.var(c, HAMILTONIAN, v, method="backprop"),
        "state_real": lambda v: qdiff.state(c, v, method="backprop").real,
        "state_imag": lambda v: qdiff.state(c, v, method="backprop").imag,
    }[output]
    v = _values((), c.num_parameters, seed=9).requires_grad_()
    out = f(v)
    assert out.grad_fn is not None and out.dtype == torch.float64
    weights = torch.tensor(np.random.default_rng(1).normal(size=out.shape))  # a random cotangent
    (grad,) = torch.autograd.grad((out * weights).sum(), v)
    with torch.no_grad():
        jac = _central_differences(f, v.detach())
    expected = (weights[..., None] * jac).reshape(-1, v.numel()).sum(0)
    torch.testing.assert_close(grad, expected, atol=1e-7, rtol=1e-6)


def test_batched_gradients_are_per_sample():
    c, _, _ = _ansatz()
    v = _values((4,), c.num_parameters, seed=6).requires_grad_()
    qdiff.expval(c, HAMILTONIAN, v).sum().backward()
    for b in range(4):
        vb = v.detach()[b].clone().requires_grad_()
        qdiff.expval(c, HAMILTONIAN, vb).backward()
        torch.testing.assert_close(v.grad[b], vb.grad, atol=1e-12, rtol=0)


def test_gradient_through_the_initial_state():
    c = Circuit(2).h(0).cx(0, 1).ry(0.3, 1)
    psi = torch.tensor([0.6, 0.0, 0.8, 0.0], dtype=torch.complex128, requires_grad=True)
    e = qdiff.expval(c, Z(0) + X(1), initial_state=psi)
    e.backward()
    assert psi.grad is not None and psi.grad.abs().sum() > 0


# -- errors ----------------------------------------------------------------------------------------

def test_qubit_index_out_of_range():
    with pytest.raises(qdiff.QubitError, match=r"qubit 2 is out of range .* 2 qubit"):
        Circuit(2).h(2)
    with pytest.raises(qdiff.QubitError, match="out of range"):
        Circuit(2).cx(0, -1)
    with pytest.raises(IndexError):
        Circuit(2).rx(0.1, 5)
    with pytest.raises(qdiff.QubitError, match="out of range"):
        qdiff.probs(Circuit(2), qubits=[2])
    with pytest.raises(qdiff.QubitError, match="out of range"):
        qdiff.state(Circuit(2), initial_state=4)


def test_qubit_repeated_in_a_gate():
    with pytest.raises(qdiff.QubitError, match="repeated"):
        Circuit(2).cx(1, 1)
    with pytest.raises(qdiff.QubitError, match="repeated"):
        Circuit(3).pauli_rot("XZ", [0, 0], 0.1)
    with pytest.raises(qdiff.QubitError, match="repeated"):
        qdiff.probs(Circuit(3), qubits=[1, 1])


def test_wrong_qubit_count_and_types():
    with pytest.raises(qdiff.QubitError, match="acts on 2 qubit"):
        Circuit(3).append("cx", [0])
    with pytest.raises(qdiff.QubitError, match="acts on 3 qubit"):
        Circuit(3).pauli_rot("XYZ", [0, 1], 0.3)
    with pytest.raises(qdiff.QubitError, match="must be ints"):
        Circuit(2).h(0.5)  # type: ignore[arg-type]
    with pytest.raises(qdiff.QubitError, match="non-negative int"):
        Circuit(-1)


def test_wrong_number_of_angles():
    with pytest.raises(qdiff.GateError, match=r"'rx' takes 1 angle\(s\), got 0"):
        Circuit(1).append("rx", [0], [])
    with pytest.raises(qdiff.GateError, match=r"'h' takes 0 angle\(s\), got 1"):
        Circuit(1).append("h", [0], [0.3])
    with pytest.raises(qdiff.GateError, match="unknown gate 'foo'"):
        Circuit(1).append("foo", [0])


def test_values_last_dimension_mismatch():
    c, _, _ = _ansatz()
    P = c.num_parameters
    with pytest.raises(qdiff.ParameterError, match=rf"shape \(\.\.\., {P}\).*got shape \(5, {P + 1}\)"):
        qdiff.state(c, torch.zeros(5, P + 1))
    with pytest.raises(qdiff.ParameterError, match="scalar"):
        qdiff.expval(c, Z(0), torch.tensor(0.1))
    with pytest.raises(qdiff.ParameterError, match="no values were given"):
        qdiff.probs(c)
    with pytest.raises(qdiff.ParameterError, match="real"):
        qdiff.state(c, torch.zeros(P, dtype=torch.complex128))


def test_missing_parameter_in_dict():
    c, w, theta = _ansatz()
    with pytest.raises(qdiff.ParameterError, match=r"missing values for parameter\(s\) \['theta'\]"):
        qdiff.state(c, {w: torch.zeros(len(w))})


def test_unknown_parameter_in_dict():
    c, w, theta = _ansatz()
    with pytest.raises(qdiff.ParameterError, match=r"\[.stranger.\] are not in the circuit"):
        qdiff.state(c, {w: torch.zeros(len(w)), theta: 0.1, Parameter("stranger"): 1.0})
    with pytest.raises(qdiff.ParameterError, match="needs 6 values, got 5"):
        qdiff.state(c, {w: torch.zeros(5), theta: 0.1})
    with pytest.raises(qdiff.ParameterError, match="Parameters or ParameterVectors"):
        qdiff.state(c, {"theta": 0.1})


def test_non_unitary_matrix():
    with pytest.raises(qdiff.GateError, match="not unitary"):
        Circuit(1).unitary([[1, 1], [0, 1]], 0)
    with pytest.raises(qdiff.GateError, match="power-of-two"):
        Circuit(2).unitary(np.eye(3), [0, 1])


def test_non_affine_expression_in_a_circuit():
    t, s = Parameter("t"), Parameter("s")
    with pytest.raises(qdiff.NonAffineError, match="not affine"):
        Circuit(1).rx(t * s, 0)
    with pytest.raises(qdiff.NonAffineError, match="real number"):
        Circuit(1).rx("0.3", 0)  # type: ignore[arg-type]


def test_observable_on_a_qubit_the_circuit_lacks():
    with pytest.raises(qdiff.ObservableError, match=r"acts on qubit 3 but the circuit has only 2"):
        qdiff.expval(Circuit(2).h(0), Z(3))
    with pytest.raises(qdiff.ObservableError, match="acts on qubit 2"):
        qdiff.var(Circuit(2).h(0), [Z(0), X(2)])


def test_non_hermitian_observable():
    with pytest.raises(qdiff.ObservableError, match="not Hermitian"):
        qdiff.expval(Circuit(2).h(0), Z(0) + 0.5j * X(1))
    with pytest.raises(qdiff.ObservableError, match="not Hermitian"):
        qdiff.var(Circuit(2).h(0), [Z(0), 1j * Z(1)])


def test_bad_observable_arguments():
    with pytest.raises(qdiff.ObservableError, match="no observables"):
        qdiff.expval(Circuit(1), [])
    with pytest.raises(qdiff.ObservableError, match="PauliSum"):
        qdiff.expval(Circuit(1), ["Z"])  # type: ignore[list-item]


def test_state_too_large_is_refused_before_allocating():
    c = Circuit(40).h(0).cx(0, 39)
    start = time.perf_counter()
    with pytest.raises(qdiff.StateTooLargeError, match=r"40 qubits .* GiB"):
        qdiff.state(c)
    with pytest.raises(MemoryError):
        qdiff.expval(c, Z(0))
    with pytest.raises(qdiff.StateTooLargeError):
        qdiff.sample(c, None, 10)
    assert time.perf_counter() - start < 2.0


def test_the_memory_check_asks_the_device_only_about_large_states(monkeypatch):
    """Working copies up to ALWAYS_FITS_BYTES need no query of the device's memory; above, the
    device's memory decides (here a pretend 1 GiB machine refuses 3 copies of 512 MiB)."""
    from qdiff.sim import memory

    asked: list[str] = []

    def one_gib(device):  # type: ignore[no-untyped-def]
        asked.append(device.type)
        return 1 << 30

    monkeypatch.setattr(memory, "device_memory_bytes", one_gib)
    cpu = torch.device("cpu")
    assert memory.check_state_fits(20, 1, torch.complex128, cpu) == 16 << 20  # 3 x 16 MiB <= 64 MiB
    assert asked == []
    assert memory.check_state_fits(21, 1, torch.complex128, cpu) == 32 << 20  # 96 MiB: asked, fits
    assert asked == ["cpu"]
    with pytest.raises(qdiff.StateTooLargeError, match="25 qubits"):
        memory.check_state_fits(25, 1, torch.complex128, cpu)


@pytest.mark.parametrize("shots", [0, -5, 1.5, 10.0, "10", True, None])
def test_bad_shots(shots):
    with pytest.raises(qdiff.ShotsError, match="shots must be a positive int"):
        qdiff.sample(Circuit(1).h(0), None, shots)


def test_bad_initial_state_and_dtype_and_method():
    c = Circuit(2).h(0)
    with pytest.raises(qdiff.ParameterError, match=r"initial_state must have shape \(\.\.\., 4\)"):
        qdiff.state(c, initial_state=torch.ones(3, dtype=torch.complex128))
    with pytest.raises(TypeError, match="dtype must be complex"):
        qdiff.state(c, dtype=torch.float64)
    with pytest.raises(qdiff.DifferentiationError, match="unknown gradient method 'nope'"):
        qdiff.expval(c, Z(0), method="nope")
    with pytest.raises(TypeError, match="qdiff Circuit"):
        qdiff.state("not a circuit")  # type: ignore[arg-type]


def test_errors_derive_from_qdiff_error_and_builtins():
    pairs = [(qdiff.QubitError, IndexError), (qdiff.ParameterError, ValueError),
             (qdiff.NonAffineError, TypeError), (qdiff.GateError, ValueError),
             (qdiff.ObservableError, ValueError), (qdiff.StateTooLargeError, MemoryError),
             (qdiff.ShotsError, ValueError), (qdiff.DifferentiationError, ValueError),
             (qdiff.BackendError, RuntimeError)]
    for err, builtin in pairs:
        assert issubclass(err, qdiff.QdiffError) and issubclass(err, builtin)
