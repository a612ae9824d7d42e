"""Pauli-string rotations run as ``"pauli"`` steps: ``cos psi - i sin M psi`` with ``M`` a monomial.

States against Qiskit's ``Statevector`` (``PauliEvolutionGate``) and against the dense product of
gate matrices, for random strings on ``k = 1..6`` of up to 8 qubits, shared and per-row angles,
row-major and batch-last batches, complex128 and complex64; a large string against a direct
bit-flip reference; and proof that no ``2**k x 2**k`` matrix or dense kernel is involved for
``k >= 3`` (step and block kinds, kernel calls, no spectral decomposition).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

import qdiff
from qdiff import Circuit, Parameter, ParameterVector
from qdiff.ir.gates import permuted_embedding
from qdiff.sim import plan as plan_module
from qdiff.sim import program as program_module
from qdiff.sim.monomial_rotation import PAULI_MIN_QUBITS, MonomialRotation, generator_structure
from qdiff.sim.program import compile_circuit
from tests.grad._helpers import torch_plan_only
from tests.sim.test_random_circuits import to_qiskit

CPU = torch.device("cpu")


def pauli_circuit(seed: int, n: int, strings: int = 4) -> Circuit:
    """Random Pauli rotations (``k = 1..min(n, 6)``, letters from ``XYZ``) between layers of ``ry``."""
    rng = np.random.default_rng(seed)
    w = ParameterVector("w", strings + 1)
    c = Circuit(n)
    for q in range(n):
        c.ry(float(rng.uniform(-2, 2)), q)
    for i in range(strings):
        k = int(rng.integers(1, min(n, 6) + 1))
        label = "".join(rng.choice(list("XYZ"), k))
        angle = w[i] if i % 2 else 2 * w[i] - w[strings] + 0.3
        c.pauli_rot(label, [int(q) for q in rng.choice(n, k, replace=False)], angle)
        if i % 2:
            a, b = (int(q) for q in rng.choice(n, 2, replace=False))
            c.cx(a, b)
    return c


def dense_reference(circuit: Circuit, values: np.ndarray) -> np.ndarray:
    """The state as the product of ``2**n x 2**n`` gate matrices (numpy)."""
    n = circuit.num_qubits
    psi = np.zeros(2**n, dtype=complex)
    psi[0] = 1
    env = dict(zip(circuit.parameters, values.tolist()))
    for op in circuit:
        angles = [e.evaluate(env) for e in op.params]
        psi = permuted_embedding(op.spec.matrix(*angles), op.qubits, n) @ psi
    return psi * np.exp(1j * circuit.global_phase)


def _values(circuit: Circuit, batch: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(-np.pi, np.pi, (batch, circuit.num_parameters)), dtype=torch.float64)


@pytest.mark.parametrize("seed", range(12))
def test_pauli_rotations_match_qiskit_and_the_dense_product(seed):
    n = 2 + seed % 7  # 2..8 qubits
    c = pauli_circuit(seed, n)
    values = _values(c, 3, seed)  # per-row angles
    out = qdiff.state(c, values)
    for row, got in zip(values, out):
        expected = Statevector(to_qiskit(c, dict(zip(c.parameters, row.tolist())))).data
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-10)
        np.testing.assert_allclose(got.numpy(), dense_reference(c, row.numpy()), atol=1e-12)
    out64 = qdiff.state(c, values.float(), dtype=torch.complex64)
    np.testing.assert_allclose(out64.numpy(), out.numpy(), atol=2e-5)


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64], ids=["c128", "c64"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per_row"])
def test_batch_last_and_unfused_agree(dtype, shared):
    c = pauli_circuit(3, 7, strings=6)
    tp = compile_circuit(c).on(dtype, CPU)
    assert "pauli" in {s.kind for s in tp.program.steps}
    B = 40  # batch-last
    g = torch.Generator().manual_seed(0)
    state = torch.randn(B, 2**7, dtype=dtype, generator=g)
    values = _values(c, 1 if shared else B, 1).to(tp.real_dtype)
    angles = tp.angles(values)
    fused = tp.run(state, angles)
    ref = torch.stack([tp.run(state[i:i + 1], angles[0 if shared else i:][:1]) for i in range(B)])[:, 0]
    tol = 1e-12 if dtype == torch.complex128 else 2e-5
    torch.testing.assert_close(fused, ref, atol=tol, rtol=0)
    torch.testing.assert_close(tp.run_steps(state, angles), ref, atol=tol, rtol=0)


def test_large_string_against_a_bit_flip_reference():
    """exp(-i t/2 P) psi = cos(t/2) psi - i sin(t/2) P psi, P|b> = i**ny (-1)**|b & z| |b ^ x>."""
    n, t = 14, 0.731
    label = "XYZZYXXYZXYZ"  # k = 12
    qubits = [13, 0, 5, 2, 11, 7, 1, 9, 3, 12, 6, 10]
    c = Circuit(n).pauli_rot(label, qubits, Parameter("t"))
    g = torch.Generator().manual_seed(2)
    psi = torch.randn(2**n, dtype=torch.complex128, generator=g)
    psi = psi / psi.norm()
    x = sum(1 << q for q, l in zip(qubits, label) if l in "XY")
    z = sum(1 << q for q, l in zip(qubits, label) if l in "ZY")
    ny = label.count("Y")
    b = np.arange(2**n)
    signs = np.array([(-1) ** bin(v & z).count("1") for v in b])
    p_psi = np.zeros(2**n, dtype=complex)
    p_psi[b ^ x] = (1j**ny) * signs * psi.numpy()
    expected = np.cos(t / 2) * psi.numpy() - 1j * np.sin(t / 2) * p_psi
    out = qdiff.state(c, torch.tensor([t], dtype=torch.float64), initial_state=psi)
    assert "generator_matrix" not in c.ops[0].spec.__dict__  # no 4096 x 4096 matrix was built
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)


def test_compiled_kinds_by_string():
    t = Parameter("t")
    c = (Circuit(6).pauli_rot("X", [2], t).pauli_rot("XY", [0, 3], t).pauli_rot("XYZ", [4, 1, 0], t)
         .pauli_rot("ZZZZ", [0, 1, 2, 5], t).pauli_rot("YYYYYY", [5, 4, 3, 2, 1, 0], t))
    assert [s.kind for s in compile_circuit(c).steps] == ["dense", "dense", "pauli", "diagonal", "pauli"]
    assert PAULI_MIN_QUBITS == 3
    steps = compile_circuit(c).steps
    assert all(s.dense is None for s in steps[2:])  # no 2**k x 2**k generator kept for k >= 3
    # the lazily built generator still equals the re-ordered spec generator (for analysis code)
    np.testing.assert_allclose(steps[4].generator,
                               program_module.reorder_local(c.ops[4].spec.generator_matrix, [5, 4, 3, 2, 1, 0]))


def test_generator_structure_recognises_scaled_involutions_only():
    x, y, z = (np.array(m, dtype=complex) for m in ([[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]))
    xyz = np.kron(z, np.kron(y, x)) / 2  # X on local 0, Y on 1, Z on 2
    kind, (perm, phases) = generator_structure(xyz, (0, 1, 2))
    assert kind == "pauli" and np.allclose(np.abs(phases), 0.5)
    assert generator_structure(np.kron(z, np.kron(z, z)), (2, 0, 1))[0] == "diagonal"
    uneven = xyz.copy()
    uneven[1, 0] = uneven[0, 1] = 0.25  # monomial, Hermitian, but M**2 != I
    assert generator_structure(uneven, (0, 1, 2))[0] == "dense"
    controlled = np.zeros((8, 8), dtype=complex)
    controlled[6:, 6:] = x  # |11><11| (x) X: zero rows
    assert generator_structure(controlled, (0, 1, 2))[0] == "dense"


def test_no_dense_path_for_large_pauli_rotations(monkeypatch):
    """Forward, backprop and the adjoint sweep of k >= 3 Pauli rotations never call the dense
    kernel, never decompose a generator and never hold a 2**k x 2**k operator."""
    t, s = Parameter("t"), Parameter("s")
    c = Circuit(8).x(0).pauli_rot("XYZXY", [0, 2, 4, 6, 7], t).pauli_rot("YYXXZZ", [7, 1, 3, 0, 5, 2], s)
    kinds = [st.kind for st in compile_circuit(c).steps]
    assert kinds == ["monomial", "pauli", "pauli"]

    def forbidden(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("dense path used")

    calls: list[str] = []
    for module in (plan_module, program_module):
        monkeypatch.setattr(module, "apply_dense", forbidden)
        original = module.apply_monomial

        def counted(*args, _original=original):  # type: ignore[no-untyped-def]
            calls.append("monomial")
            return _original(*args)

        monkeypatch.setattr(module, "apply_monomial", counted)
    monkeypatch.setattr(program_module, "spectral_decomposition", forbidden)
    monkeypatch.setattr(plan_module, "spectral_decomposition", forbidden)
    torch_plan_only(monkeypatch)  # the torch plan's kernels are what is counted
    tp = compile_circuit(c).on(torch.complex128, CPU)
    plan = tp.plan(2, 2)
    assert [b.kind for b in plan.blocks] == ["monomial", "pauli", "pauli"]
    ops = plan.operators(tp.angles(torch.tensor([[0.3, -0.2], [0.1, 0.9]], dtype=torch.float64)))
    assert all(isinstance(op, MonomialRotation) and op.coeffs.shape == (2, 2) for op in ops[1:])
    for method in ("adjoint", "backprop"):
        calls.clear()
        v = torch.tensor([[0.3, -0.2], [0.1, 0.9]], dtype=torch.float64, requires_grad=True)
        e = qdiff.expval(c, qdiff.X(2) @ qdiff.Y(4) + qdiff.Z(0), v, method=method)
        e.sum().backward()
        assert v.grad is not None and v.grad.abs().sum() > 0
        assert calls == ["monomial"] * (3 if method == "backprop" else 6), method  # one per block and pass
    calls.clear()
    tp.run_steps(torch.eye(1, 256, dtype=torch.complex128), tp.angles(torch.tensor([[0.3, -0.2]], dtype=torch.float64)))
    assert calls == ["monomial"] * 3


def test_large_pauli_rotation_never_builds_its_dense_generator():
    """A 12-qubit string: spec, shift rule, compile, forward and adjoint gradient without the 4**12 matrix."""
    from qdiff.ir.library import pauli_rot_spec

    string = "XYZXYZIXYZZX"
    spec = pauli_rot_spec(string)
    assert spec.generator is None and spec.pauli == string
    assert len(spec.shift_rule.shifts) == 2  # two-term rule from the known spectrum +-1/2
    c = qdiff.Circuit(13)
    c.h(0).pauli_rot(string, list(range(12, 0, -1)), qdiff.Parameter("t"))
    values = torch.tensor([0.37], dtype=torch.float64, requires_grad=True)
    energy = qdiff.expval(c, qdiff.Z(5) @ qdiff.X(0), values, method="adjoint")
    energy.backward()
    assert torch.isfinite(values.grad).all()
    assert "generator_matrix" not in spec.__dict__ and "spectrum" not in spec.__dict__
