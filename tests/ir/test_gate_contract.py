"""The GateSpec contract, swept over every spec (named gates and the dynamic ones).

For each spec: the matrix is unitary; for rotations ``dU/dtheta = -i G U`` (central finite
differences, and torch autograd through ``spec.matrix``); ``spec.inverse`` and
``Circuit.inverse`` give the inverse; and the parameter-shift rule derived from the generator's
spectrum is exact for ``f(theta) = <psi| U(theta)^dagger O U(theta) |psi>`` with random ``psi``
and a random Hermitian ``O``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import unitary_group

import qdiff
from qdiff.ir import GateSpec, mcx_spec, pauli_rot_spec, unitary_spec

PAULI_STRINGS = ["X", "Y", "Z", "XY", "ZZ", "IX", "YI", "XYZ", "IZI", "YIXZ"]
SPECS: dict[str, GateSpec] = {
    **qdiff.GATES,
    "mcx3": mcx_spec(3),
    "mcx4": mcx_spec(4),
    **{f"pauli_rot_{s}": pauli_rot_spec(s) for s in PAULI_STRINGS},
    "unitary1": unitary_spec(unitary_group.rvs(2, random_state=11)),
    "unitary2": unitary_spec(unitary_group.rvs(4, random_state=12)),
}
ROTATIONS = {k: s for k, s in SPECS.items() if s.kind == "rotation"}

TWO_TERM = ["rx", "ry", "rz", "p", "rxx", "ryy", "rzz", "rzx", "cp"] + [f"pauli_rot_{s}" for s in PAULI_STRINGS]
FOUR_TERM = ["crx", "cry", "crz"]


def _rng(key: str) -> np.random.Generator:
    return np.random.default_rng([ord(c) for c in key])


def _angles(spec: GateSpec, rng: np.random.Generator) -> list[float]:
    return list(rng.uniform(-2 * np.pi, 2 * np.pi, spec.num_params))


def _random_state(d: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=d) + 1j * rng.normal(size=d)
    return v / np.linalg.norm(v)


def _random_hermitian(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    return a + a.conj().T


def test_sweep_is_complete():
    assert set(TWO_TERM) | set(FOUR_TERM) == set(ROTATIONS), "every rotation has an expected rule length"
    assert {s.kind for s in SPECS.values()} == {"fixed", "rotation", "composite"}


@pytest.mark.parametrize("key", sorted(SPECS))
def test_matrix_is_unitary_and_well_shaped(key):
    spec = SPECS[key]
    rng = _rng(key)
    d = 2**spec.num_qubits
    for _ in range(3):
        m = np.asarray(spec.matrix(*_angles(spec, rng)))
        assert m.shape == (d, d)
        np.testing.assert_allclose(m.conj().T @ m, np.eye(d), atol=1e-12)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_matrix_rejects_the_wrong_number_of_angles(key):
    spec = SPECS[key]
    with pytest.raises(qdiff.GateError, match=f"takes {spec.num_params} angle"):
        spec.matrix(*([0.1] * (spec.num_params + 1)))


@pytest.mark.parametrize("key", sorted(ROTATIONS))
def test_generator_is_hermitian_and_matches_spectrum(key):
    spec = ROTATIONS[key]
    g = spec.generator_matrix
    np.testing.assert_allclose(g, g.conj().T, atol=0)
    eigenvalues, projectors = spec.spectrum
    assert np.all(np.diff(eigenvalues) > 1e-9), "distinct, ascending"
    np.testing.assert_allclose(np.einsum("e,eij->ij", eigenvalues, projectors), g, atol=1e-12)
    np.testing.assert_allclose(projectors.sum(0), np.eye(len(g)), atol=1e-12)
    for p in projectors:
        np.testing.assert_allclose(p @ p, p, atol=1e-12)
    expected_freqs = sorted({round(a - b, 9) for a in eigenvalues for b in eigenvalues if a - b > 1e-9})
    np.testing.assert_allclose(spec.shift_rule.frequencies, expected_freqs, atol=1e-9)


@pytest.mark.parametrize("key", sorted(ROTATIONS))
def test_derivative_is_minus_i_generator_times_matrix(key):
    spec = ROTATIONS[key]
    rng = _rng(key)
    h = 1e-6
    for theta in rng.uniform(-2 * np.pi, 2 * np.pi, 3):
        u = spec.matrix(theta)
        fd = (spec.matrix(theta + h) - spec.matrix(theta - h)) / (2 * h)
        np.testing.assert_allclose(fd, -1j * spec.generator_matrix @ u, atol=1e-8, err_msg=key)
        # U = exp(-i theta G)
        w, v = np.linalg.eigh(spec.generator_matrix)
        np.testing.assert_allclose(u, (v * np.exp(-1j * theta * w)) @ v.conj().T, atol=1e-12)


@pytest.mark.parametrize("key", sorted(ROTATIONS))
def test_torch_matrix_is_differentiable_and_agrees(key):
    spec = ROTATIONS[key]
    theta = torch.tensor(float(_rng(key).uniform(-3, 3)), dtype=torch.float64, requires_grad=True)
    m = spec.matrix(theta)
    assert isinstance(m, torch.Tensor) and m.dtype == torch.complex128
    np.testing.assert_allclose(m.detach().numpy(), spec.matrix(theta.item()), atol=1e-14)
    jac = torch.autograd.functional.jacobian(lambda t: torch.view_as_real(spec.matrix(t)), theta)
    dm = torch.view_as_complex(jac.contiguous()).numpy()
    np.testing.assert_allclose(dm, -1j * spec.generator_matrix @ m.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_spec_inverse_is_the_inverse(key):
    spec = SPECS[key]
    rng = _rng(key)
    angles = _angles(spec, rng)
    inv_spec, inv_angles = spec.inverse(angles)
    assert isinstance(inv_spec, GateSpec) and inv_spec.num_qubits == spec.num_qubits
    product = np.asarray(inv_spec.matrix(*inv_angles)) @ np.asarray(spec.matrix(*angles))
    np.testing.assert_allclose(product, np.eye(2**spec.num_qubits), atol=1e-12, err_msg=key)


@pytest.mark.parametrize("key", sorted(SPECS))
def test_circuit_inverse_of_one_gate_is_identity(key):
    spec = SPECS[key]
    rng = _rng(key)
    n = spec.num_qubits + 1
    qubits = [int(q) for q in rng.permutation(n)[: spec.num_qubits]]
    theta = qdiff.ParameterVector("a", spec.num_params)
    exprs = [2 * t - 0.3 for t in theta]  # affine angles must invert too
    c = qdiff.Circuit(n).append(spec, qubits, exprs)
    values = torch.tensor(rng.uniform(-3, 3, (2, spec.num_params)))
    basis = torch.eye(2**n, dtype=torch.complex128)[:, None]  # (2**n, 1, 2**n): every basis state
    out = qdiff.state(c.compose(c.inverse()), values, initial_state=basis)  # (2**n, 2, 2**n)
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(basis.numpy(), out.shape), atol=1e-12, err_msg=key)


@pytest.mark.parametrize("key", sorted(ROTATIONS))
def test_shift_rule_is_exact(key):
    spec = ROTATIONS[key]
    rule = spec.shift_rule
    expected_len = 2 if key in TWO_TERM else 4
    assert len(rule) == len(rule.coefficients) == expected_len, f"{key}: {rule}"
    rng = _rng(key)
    d = 2**spec.num_qubits
    for _ in range(3):
        psi = _random_state(d, rng)
        obs = _random_hermitian(d, rng)
        theta = rng.uniform(-2 * np.pi, 2 * np.pi)

        def f(t: float) -> float:
            phi = spec.matrix(t) @ psi
            return float(np.real(phi.conj() @ obs @ phi))

        u = spec.matrix(theta)
        exact = 2 * np.real((u @ psi).conj() @ obs @ (-1j * spec.generator_matrix @ u @ psi))
        shifted = sum(c * f(theta + s) for s, c in zip(rule.shifts, rule.coefficients))
        assert abs(shifted - exact) < 1e-10, f"{key}: shift rule {shifted} vs exact {exact}"


def test_two_term_rule_is_the_textbook_one():
    rule = qdiff.GATES["rx"].shift_rule
    pairs = np.array(sorted(zip(rule.shifts, rule.coefficients)))
    np.testing.assert_allclose(pairs, [[-np.pi / 2, -0.5], [np.pi / 2, 0.5]], rtol=0, atol=1e-14)


def test_identity_pauli_rotation_has_an_empty_rule():
    spec = pauli_rot_spec("II")
    assert len(spec.shift_rule) == 0  # a global phase: every expectation value is constant


@pytest.mark.parametrize("diagonal", [(0.0, 1.0, 2.5, 0.0), (0.0, 0.3, 1.0, -0.7), (0.0, 1.0, 2.0, 3.0)])
def test_general_shift_rule_is_exact_for_uneven_spectra(diagonal):
    """A generator whose frequencies are not 1..R times a base uses the general rule; still exact."""
    g = np.diag(diagonal).astype(complex)
    spec = GateSpec("custom", 2, 1, "rotation", generator=g)
    rng = np.random.default_rng(5)
    psi, obs = _random_state(4, rng), _random_hermitian(4, rng)
    f = lambda t: float(np.real((spec.matrix(t) @ psi).conj() @ obs @ (spec.matrix(t) @ psi)))  # noqa: E731
    for theta in (0.3, -1.7):
        u = spec.matrix(theta)
        exact = 2 * np.real((u @ psi).conj() @ obs @ (-1j * g @ u @ psi))
        rule = spec.shift_rule
        assert len(rule) == 2 * len(rule.frequencies)
        assert abs(sum(c * f(theta + s) for s, c in zip(rule.shifts, rule.coefficients)) - exact) < 1e-10


def test_controlled_gates_know_their_base():
    for name, base in [("cx", "x"), ("cy", "y"), ("cz", "z"), ("ch", "h"), ("crx", "rx"), ("cry", "ry"),
                       ("crz", "rz"), ("cp", "p")]:
        spec = qdiff.GATES[name]
        assert spec.num_controls == 1 and spec.base is qdiff.GATES[base]
    assert qdiff.GATES["ccx"].num_controls == 2
    assert mcx_spec(1) is qdiff.GATES["cx"] and mcx_spec(2) is qdiff.GATES["ccx"]
    with pytest.raises(qdiff.GateError, match="at least one control"):
        mcx_spec(0)


def test_structure_classification():
    assert qdiff.GATES["rz"].structure == "diagonal"
    assert qdiff.GATES["crz"].structure == "diagonal"
    assert qdiff.GATES["rx"].structure == "dense"
    assert qdiff.GATES["cx"].structure == "monomial"
    assert qdiff.GATES["iswap"].structure == "monomial"
    assert qdiff.GATES["t"].structure == "diagonal"
    assert qdiff.GATES["h"].structure == "dense"


def test_bad_pauli_strings_are_rejected():
    for bad in ("", "XA", "x y"):
        with pytest.raises(qdiff.GateError, match="IXYZ"):
            pauli_rot_spec(bad)
