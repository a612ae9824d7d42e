"""The numba tape (qdiff.sim.tape): forward equals the unfused torch steps, the adjoint engine's
tape sweep equals backprop, and small CPU states really take it (calls counted)."""

from __future__ import annotations

import functools
import importlib
import os

import numpy as np
import pytest
import torch

import qdiff
from qdiff import Circuit, Parameter, X, Y, Z
from qdiff.execute import prepare
from qdiff.sim import jit
from qdiff.sim import tape as tape_module
from qdiff.sim.program import compile_circuit
from tests.grad._helpers import random_circuit, random_values

pytest.importorskip("numba")
adjoint_module = importlib.import_module("qdiff.grad.adjoint")


def _wide(n: int = 6) -> Circuit:
    """Runs of one-qubit gates, CX chains (one affine permutation; in the second layer with a CY, a
    whole-state permutation with phases), a CCX and CSWAP (one without phases), three-qubit dense, monomial and Pauli steps, a fixed dense two-qubit gate, five-qubit
    diagonal and Pauli rotations and a global phase."""
    c = Circuit(n, global_phase=0.3)
    a, b = Parameter("a"), Parameter("b")
    for layer in range(2):
        for q in range(n):
            c.ry(a * (q + 1) + layer, q).rz(b - 0.1 * q, q).h(q)
        for q in range(n - 1):
            c.cx(q, q + 1)
        if layer:
            c.cy(0, 2)
        c.pauli_rot("XYZ", (0, 2, 5), 2 * a).ccx(1, 3, 4).cswap(0, 5, 2).rzz(b, 1, 4).crx(a, 3, 0)
        c.unitary(np.kron(np.eye(2), np.array([[0, 1], [1, 0]])) @ np.diag([1, 1j, -1, 1]), (2, 4)).iswap(1, 5)
        c.cp(a + b, 0, 3).cz(2, 5)
    c.pauli_rot("ZZZZZ", (0, 1, 2, 3, 5), b).pauli_rot("XYZXY", (0, 1, 2, 4, 5), a)  # wide diagonal, wide Pauli
    return c


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
@pytest.mark.parametrize("rows,angle_rows", [(1, 1), (3, 1), (3, 3), (9, 9), (9, 1)])  # 9: threaded rows
def test_tape_forward_equals_steps(dtype, rows, angle_rows):
    c = _wide()
    program = compile_circuit(c)
    tp = program.on(dtype, torch.device("cpu"))
    tape = tape_module.lower(program)
    assert set(tape.gkind.tolist()) == {0, 1, 2, 3}  # steps, runs, whole-state and affine permutations,
    assert (tape.dmax, tape.mmax) == (32, 4)  # five-qubit steps, but no matrix wider than 2 qubits
    phased = tape.gc[tape.gkind == 2] >= 0
    assert set(phased.tolist()) == {False, True}  # some without phases (CCX, CSWAP), some with (CX chain, CY)
    g = torch.Generator().manual_seed(rows + angle_rows)
    values = torch.rand(angle_rows, c.num_parameters, generator=g, dtype=dtype.to_real())
    init = torch.randn(rows, 1 << c.num_qubits, generator=g, dtype=dtype)
    angles = tp.angles(values)
    expected = tp.run_steps(init, angles)
    got = tape_module.run_tape(tape, init, angles)
    tol = 1e-12 if dtype == torch.complex128 else 2e-5
    torch.testing.assert_close(got, expected, atol=tol, rtol=tol)


def _count(monkeypatch) -> dict[str, int]:
    counts = {"run": 0, "sweep": 0}
    for name in counts:
        real = getattr(adjoint_module, f"{name}_tape")

        def wrapped(*args, _real=real, _name=name):  # type: ignore[no-untyped-def]
            counts[_name] += 1
            return _real(*args)

        monkeypatch.setattr(adjoint_module, f"{name}_tape", wrapped)
    return counts


def _assert_tape_matches(c: Circuit, values: torch.Tensor, obs, initial: torch.Tensor | None = None,  # type: ignore[no-untyped-def]
                         ) -> None:
    """The tape's forward from ``initial`` (default ``|0...0>``, one row per value row) equals
    the unfused torch steps, and the adjoint gradients of a weighted sum of ``expval(c, obs)``
    (values, and the initial state when given) equal backprop's."""
    program = compile_circuit(c)
    tp = program.on(torch.complex128, torch.device("cpu"))
    if initial is None:
        init = torch.zeros(values.shape[0], 1 << c.num_qubits, dtype=torch.complex128)
        init[:, 0] = 1
    else:
        init = initial / initial.norm(dim=1, keepdim=True)
    angles = tp.angles(values)
    torch.testing.assert_close(tape_module.run_tape(tape_module.lower(program), init, angles),
                               tp.run_steps(init, angles), atol=1e-11, rtol=0)
    grads = {}
    for method in ("adjoint", "backprop"):
        v = values.clone().requires_grad_(True)
        s = init.clone().requires_grad_(initial is not None)
        out = qdiff.expval(c, obs, v, method=method, initial_state=s)
        (out * torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).view(out.shape)).sum().backward()
        grads[method] = (v.grad, s.grad)
    for got, want in zip(grads["adjoint"], grads["backprop"]):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch", [(), (2,), (9,)], ids=["shared", "per_sample", "threaded_rows"])
def test_tape_adjoint_equals_backprop(monkeypatch, seed, batch):
    """Every parametrized gate (random circuits) and the wide circuit: gradients of the values and
    of the initial state agree with backprop, and the tape ran once each way."""
    counts = _count(monkeypatch)
    c = random_circuit(seed, num_qubits=3, global_phase=0.4) if seed < 3 else _wide()
    n = c.num_qubits
    obs = [X(0) @ Y(1) + Z(2), Z(1) @ Z(2) - 0.5 * X(n - 1)]
    psi0 = torch.randn(1 << n, dtype=torch.complex128, generator=torch.Generator().manual_seed(seed))
    grads = {}
    for method in ("adjoint", "backprop"):
        v = random_values(c, batch, seed).requires_grad_(True)
        s = (psi0 / psi0.norm()).requires_grad_(True)
        out = qdiff.expval(c, obs, v, method=method, initial_state=s)
        (out * torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).view(out.shape)).sum().backward()
        grads[method] = (v.grad, s.grad)
    assert counts == {"run": 1, "sweep": 1}
    for got, want in zip(grads["adjoint"], grads["backprop"]):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


def test_a_wide_random_circuit_at_the_tape_limit(monkeypatch):
    """At TAPE_MAX_QUBITS, every parametrized gate (Pauli strings up to that width included) and
    fixed gates: the tape's forward equals the unfused steps, and its gradients backprop's."""
    counts = _count(monkeypatch)
    n = tape_module.TAPE_MAX_QUBITS
    c = random_circuit(11, num_qubits=n, global_phase=0.2).cx(0, n - 1).cx(1, 2).cy(2, 5).swap(3, 7)
    values = torch.rand(2, c.num_parameters, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    _assert_tape_matches(c, values, X(0) @ Y(n - 1) + Z(n // 2))
    assert counts == {"run": 1, "sweep": 1}


def test_threaded_rows_with_shared_angles_sum_their_gradients(monkeypatch):
    """Nine initial states, one set of angles: the threaded sweep (each thread its own gradient
    row, summed) gives backprop's gradients."""
    kernels = jit.kernels("tape_kernels")
    used: list[str] = []
    for name in ("run_rows", "sweep_rows"):
        monkeypatch.setattr(tape_module, "_kernels", lambda: kernels)
        original = getattr(kernels, name)

        def counted(*args, _original=original, _name=name):  # type: ignore[no-untyped-def]
            used.append(_name)
            return _original(*args)

        monkeypatch.setattr(kernels, name, counted)
    c = _wide()
    n = c.num_qubits
    psi0 = torch.randn(9, 1 << n, dtype=torch.complex128, generator=torch.Generator().manual_seed(9))
    psi0 = psi0 / psi0.norm(dim=1, keepdim=True)
    grads = {}
    for method in ("adjoint", "backprop"):
        v = random_values(c, (), 9).requires_grad_(True)
        qdiff.expval(c, X(0) @ Y(1) + Z(2), v, method=method, initial_state=psi0).sum().backward()
        grads[method] = v.grad
    assert used == ["run_rows", "sweep_rows"]
    torch.testing.assert_close(grads["adjoint"], grads["backprop"], atol=1e-10, rtol=1e-10)


def test_tape_is_skipped_beyond_its_width_only(monkeypatch):
    """Too wide a state: the torch plan runs. A large batch (here 2**17 amplitudes) runs the tape,
    forward and backward."""
    counts = _count(monkeypatch)
    c = _wide()
    v = torch.rand(c.num_parameters, dtype=torch.float64, requires_grad=True)
    qdiff.expval(c, Z(0), v, method="adjoint").backward()
    assert counts == {"run": 1, "sweep": 1}
    monkeypatch.setattr(tape_module, "TAPE_MAX_QUBITS", 5)
    qdiff.expval(c, Z(0), v, method="adjoint").backward()
    with torch.no_grad():
        qdiff.expval(c, Z(0), v, method="adjoint")
    assert counts == {"run": 1, "sweep": 1}
    monkeypatch.setattr(tape_module, "TAPE_MAX_QUBITS", 6)
    batch = torch.rand(2048, c.num_parameters, dtype=torch.float64, requires_grad=True)
    qdiff.expval(c, Z(0), batch, method="adjoint").sum().backward()
    assert counts == {"run": 2, "sweep": 2}


def _one_pass_circuit(n: int) -> Circuit:
    """One-qubit runs, two-qubit diagonals (both loop shapes) and Pauli strings only: a tape
    that :func:`~qdiff.sim.tape.streams`."""
    g, b = Parameter("g"), Parameter("b")
    c = Circuit(n)
    for q in range(n):
        c.h(q)
    for layer in range(2):
        for q in range(n):
            c.rzz(-g * (1 + 0.1 * q), q, (q + 1 + layer) % n)
        c.crz(b, n - 1, 3).cp(g + b, 0, 5).cz(2, 9).pauli_rot("XYZ", (1, 4, n - 1), b)
        for q in range(n):
            c.rx(2 * b, q).rz(0.1 * q * g, q)
    return c


def test_fixed_diagonals_join_the_permutation_group_of_their_neighbours(monkeypatch):
    """A chain of CZs (with a CNOT and a Toffoli among them) is one whole-state
    permutation group with phases, not one diagonal step each: forward, gradients and the lanes
    equal the unfused steps and backprop. A lone CZ stays a step of its own, and a program too
    wide for a table of the whole state keeps its CZs as diagonal passes (it streams)."""
    counts = _count(monkeypatch)
    K = jit.kernels("tape_kernels")
    w = qdiff.ParameterVector("w", 8)
    c = Circuit(4)
    for q in range(4):
        c.ry(w[q], q).rz(w[4 + q], q)
    c.cz(0, 1).cz(1, 2).cx(3, 0).cz(2, 3).ccx(0, 1, 2).cz(3, 1)
    for q in range(4):
        c.rx(w[q], q)
    c.cz(0, 2)  # alone: a diagonal step
    tape = tape_module.lower(compile_circuit(c))
    groups = tape.gkind.tolist()
    assert groups.count(K.GROUP_PERMUTATION) == 1 and groups.count(K.GROUP_STEP) == 1
    (g,) = np.flatnonzero(tape.gkind == K.GROUP_PERMUTATION)
    assert tape.gstart[g + 1] - tape.gstart[g] == 6 and tape.gc[g] >= 0  # six steps, with phases
    values = torch.rand(3, 8, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    _assert_tape_matches(c, values, X(0) @ Z(2) + Y(3))
    assert counts == {"run": 1, "sweep": 1}
    rows = 2 * K.LANE_MIN * 2
    many = torch.rand(rows, 8, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    np.testing.assert_allclose(_run_kernel("run_lanes", c, many, torch.eye(16, dtype=torch.complex128)[:1], 2),
                               _run_kernel("run", c, many, torch.eye(16, dtype=torch.complex128)[:1]), atol=1e-12, rtol=0)
    n = tape_module.TAPE_MAX_QUBITS + 1
    wide = Circuit(n)
    for q in range(n):
        wide.ry(w[q % 8], q)
    for q in range(n - 1):
        wide.cz(q, q + 1)
    assert tape_module.streams(compile_circuit(wide))
    assert K.GROUP_PERMUTATION not in tape_module.lower(compile_circuit(wide)).gkind.tolist()


def test_wide_states_run_the_tape_when_every_group_is_one_pass(monkeypatch):
    """Past TAPE_MAX_QUBITS the tape still runs a complex128 state whose program streams: forward
    equal to the unfused steps, gradients equal to backprop's (per-row and shared angles; a few
    rows cut each pass over threads), CNOT, SWAP and X networks included (affine permutations,
    two small tables each) and dense two-qubit steps (quads). A complex64 gradient runs the tape in
    complex64; a complex64 forward alone, or one with dense two-qubit steps, the torch plan; a
    permutation without that form (a Toffoli) sends the state to the plan."""
    counts = _count(monkeypatch)
    n = tape_module.TAPE_MAX_QUBITS + 1
    c = _one_pass_circuit(n)
    program = compile_circuit(c)
    assert tape_module.streams(program)
    assert tape_module.lower(program).idata.size == 6  # two Pauli strings: three masks each, no tables
    K = jit.kernels("tape_kernels")
    few_rows = np.zeros((2, 1 << n), dtype=complex)
    assert (tape_module._kernel(few_rows, "run"), tape_module._kernel(few_rows, "sweep")) == \
        (K.run_wide, K.sweep_wide)  # each pass cut over threads
    values = torch.tensor([[0.3, -0.7], [1.1, 0.4]], dtype=torch.float64)
    obs = X(0) @ Y(n - 1) + Z(3) @ Z(7)
    _assert_tape_matches(c, values, obs)
    states = torch.randn(2, 1 << n, generator=torch.Generator().manual_seed(4), dtype=torch.complex128)
    _assert_tape_matches(c, values[1:], obs, states)  # shared angles, two rows: the gradient sums them
    assert counts == {"run": 2, "sweep": 2}
    permuting = _one_pass_circuit(n)
    permuting.cx(0, 1).cx(1, n - 1).swap(2, 9).x(4).cx(5, 3).rx(permuting.parameters[0], 2).cx(8, 0)
    permuting_tape = tape_module.lower(compile_circuit(permuting))
    assert tape_module.streams(compile_circuit(permuting))
    assert permuting_tape.gkind.tolist().count(K.GROUP_AFFINE) == 3  # CX, CX, SWAP | X (a run) | CX | rx | CX
    assert permuting_tape.idata.size < 2 * (6 + 2 * 2 ** (n - n // 2 + 1))  # no table of the whole state
    _assert_tape_matches(permuting, values, obs)
    assert counts == {"run": 3, "sweep": 3}
    phased = _one_pass_circuit(n)  # a Y between CNOTs: a run of its own, not part of their permutation
    phased.cx(0, 1).y(1).cx(2, 3).x(4).cx(4, 5).rz(phased.parameters[0], 1)
    assert set(tape_module.lower(compile_circuit(phased)).gkind.tolist()) == {K.GROUP_STEP, K.GROUP_RUN,
                                                                             K.GROUP_AFFINE}
    _assert_tape_matches(phased, values, obs)
    assert counts == {"run": 4, "sweep": 4}
    single = values[0].to(torch.float32).requires_grad_(True)
    energy = qdiff.expval(permuting, obs, single, method="adjoint", dtype=torch.complex64)
    energy.backward()
    assert counts == {"run": 5, "sweep": 5}
    reference = values[0].clone().requires_grad_(True)
    expected = qdiff.expval(permuting, obs, reference, method="backprop")
    expected.backward()
    torch.testing.assert_close(energy.double(), expected.detach(), atol=2e-6, rtol=0)
    torch.testing.assert_close(single.grad.double(), reference.grad, atol=2e-5, rtol=0)
    with torch.no_grad():
        forward = qdiff.expval(permuting, obs, single, method="adjoint", dtype=torch.complex64)
    assert counts == {"run": 5, "sweep": 5}  # the forward alone: the torch plan
    torch.testing.assert_close(forward, energy.detach(), atol=2e-6, rtol=0)
    controlled = _one_pass_circuit(n)  # dense two-qubit steps: a pass over the quads each
    g = controlled.parameters[0]
    controlled.cry(g, 0, n - 1).crx(2 * g, 6, 2).ch(3, 4).cry(-g, 9, 1)
    rng = np.random.default_rng(7)
    controlled.unitary(np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0], (5, 12))
    assert tape_module.streams(compile_circuit(controlled))
    _assert_tape_matches(controlled, values, obs)
    assert counts == {"run": 6, "sweep": 6}
    with torch.no_grad():  # its forward alone: the torch plan, which fuses the pairs into wider blocks
        qdiff.expval(controlled, obs, values, method="adjoint")
    assert counts == {"run": 6, "sweep": 6}
    v = values[0].clone().requires_grad_(True)
    toffoli = _one_pass_circuit(n).cx(0, 1).ccx(1, 2, 3)
    qdiff.expval(toffoli, obs, v, method="adjoint").backward()
    assert counts == {"run": 6, "sweep": 6}
    toffoli_program = compile_circuit(toffoli)
    assert not tape_module.streams(toffoli_program) and "tape" not in toffoli_program._torch  # never lowered


def test_the_sweep_overwrites_the_final_state_only_when_nothing_reads_it(monkeypatch):
    """An expectation value's backward uncomputes the tape's final state in its own memory; the
    state itself (returned to the caller) or a kept graph gets a copy, and the next backward
    through the kept graph (the last: it may overwrite) gives the same gradient."""
    seen = []
    real = adjoint_module.sweep_tape

    def spy(tape, final, grad_state, angles, overwrite_final=False):  # type: ignore[no-untyped-def]
        seen.append(overwrite_final)
        return real(tape, final, grad_state, angles, overwrite_final)

    monkeypatch.setattr(adjoint_module, "sweep_tape", spy)
    c = _wide()
    v = torch.rand(c.num_parameters, dtype=torch.float64, requires_grad=True)
    qdiff.expval(c, Z(0) @ X(2), v, method="adjoint").backward()
    first = v.grad.clone()
    v.grad = None
    psi = qdiff.state(c, v, method="adjoint")
    (psi.abs() ** 4).sum().backward()
    v.grad = None
    out = qdiff.expval(c, Z(0) @ X(2), v, method="adjoint")
    out.backward(retain_graph=True)
    again = v.grad.clone()
    v.grad = None
    out.backward()
    assert seen == [True, False, False, True]  # the last backward frees the graph: overwrites
    torch.testing.assert_close(again, first, atol=1e-12, rtol=0)
    torch.testing.assert_close(v.grad, first, atol=1e-12, rtol=0)


def test_pauli_strings_and_general_monomial_rotations_agree(monkeypatch):
    """Pauli-string rotations run as masks (one pass over amplitude pairs); the general Hermitian
    monomial path (tables), forced here, gives the same forward states and sweep gradients."""
    c = _wide()
    program = compile_circuit(c)
    tp = program.on(torch.complex128, torch.device("cpu"))
    strings = tape_module.lower(program)
    monkeypatch.setattr(tape_module, "_pauli_string_masks", lambda *args: None)
    general = tape_module.lower(program)
    kernels = jit.kernels("tape_kernels")
    kinds = kernels.ROT_PAULI, kernels.ROT_PAULI_STRING
    assert [int((t.kind == k).sum()) for t in (strings, general) for k in kinds] == [0, 3, 3, 0]
    g = torch.Generator().manual_seed(5)
    angles = tp.angles(torch.rand(3, c.num_parameters, generator=g, dtype=torch.float64))
    init = torch.randn(3, 1 << c.num_qubits, generator=g, dtype=torch.complex128)
    finals = [tape_module.run_tape(t, init, angles) for t in (strings, general)]
    torch.testing.assert_close(finals[0], finals[1], atol=1e-12, rtol=0)
    cotangent = torch.randn(3, 1 << c.num_qubits, generator=g, dtype=torch.complex128)
    sweeps = [tape_module.sweep_tape(t, finals[0], cotangent, angles) for t in (strings, general)]
    for got, want in zip(sweeps[0], sweeps[1]):
        torch.testing.assert_close(got, want, atol=1e-11, rtol=0)


def test_diagonal_steps_take_one_pass_and_match_backprop(monkeypatch):
    """rzz, crz, cp, cz, Z-string rotations and fixed diagonals on two to four qubits (rotating
    and fixed, symmetric in their qubits or not; lowest qubit 0-1, read bit by bit, and 2-3, in
    contiguous stretches) run as diagonal steps of the tape: the forward equals the unfused torch
    steps, the sweep's gradients (angles and initial state) equal backprop's."""
    counts = _count(monkeypatch)
    a, b = Parameter("a"), Parameter("b")
    c = Circuit(6)
    for q in range(6):
        c.h(q).ry(a * (q + 1), q)
    c.rzz(a, 0, 1).crz(b, 1, 4).cp(2 * a - b, 2, 5).cz(3, 4).crz(b, 5, 3).cp(0.7, 0, 2).cz(1, 3)
    c.unitary(np.diag([1, 1j, -1, np.exp(0.3j)]), (4, 2))  # fixed, not symmetric in its qubits
    c.pauli_rot("ZZZ", (0, 3, 5), a - b).pauli_rot("ZZZ", (2, 3, 4), b)  # three qubits, both loop shapes
    c.unitary(np.diag(np.exp(1j * np.arange(16) ** 1.5)), (5, 1, 2, 4))  # fixed, four qubits
    for q in range(6):
        c.rx(b * q, q)
    program = compile_circuit(c)
    tape = tape_module.lower(program)
    K = jit.kernels("tape_kernels")
    widths = np.diff(tape.qstart)
    wide = widths >= 2
    assert {int(k) for k in tape.kind[wide]} == {K.ROT_DIAGONAL, K.FIXED_DIAGONAL}
    assert sorted(widths[wide].tolist()) == [2] * 8 + [3, 3, 4] and tape_module.streams(program)
    g = torch.Generator().manual_seed(3)
    values = torch.rand(3, 2, generator=g, dtype=torch.float64)
    init = torch.randn(3, 64, generator=g, dtype=torch.complex128)
    _assert_tape_matches(c, values, [X(0) @ Z(3) + Y(5), Z(1) @ Z(4) - 0.5 * X(2)], init)
    assert counts == {"run": 1, "sweep": 1}


def test_whole_permutation_composes_the_steps():
    c = Circuit(4).cx(0, 1).swap(1, 3).ccx(3, 0, 2).y(2).x(0)
    program = compile_circuit(c)
    perm, phases = tape_module._whole_permutation(program.steps, 4)
    psi = torch.randn(16, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    want = qdiff.state(c, initial_state=psi)
    got = torch.zeros_like(psi)
    got[torch.as_tensor(perm)] = torch.as_tensor(phases) * psi
    torch.testing.assert_close(got, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("rows", [9, "lanes"])
def test_a_forked_child_runs_its_rows_without_the_parents_thread_pool(rows):
    """After a threaded batch in this process (rows over threads, or blocks of rows side by side),
    a forked child (a multiprocessing worker on Linux) computes the same gradients in one thread:
    GNU OpenMP would abort it (exit by SIGTERM)."""
    import numba

    c = _runs_and_permutations(5, 6) if rows == "lanes" else _wide(6)
    rows = 2 * LANE_K.LANE_MIN * numba.get_num_threads() if rows == "lanes" else rows
    v = torch.rand(rows, c.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    def gradient() -> torch.Tensor:
        x = v.clone().requires_grad_(True)
        qdiff.expval(c, Z(0) + X(3), x, method="adjoint").sum().backward()
        return x.grad

    want = gradient()
    assert jit.owns_thread_pool()
    assert tape_module.lanes(tape_module.lower(compile_circuit(c)), torch.zeros(rows, 64)) == (rows > 9)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it matched, never return into pytest
        ok = False
        try:
            torch.set_num_threads(1)  # torch's own OpenMP pool does not survive a fork (DataLoader workers do this)
            ok = not jit.owns_thread_pool() and not tape_module.lanes(tape_module.lower(compile_circuit(c)), torch.zeros(rows, 64)) and \
                torch.allclose(gradient(), want, atol=1e-12, rtol=0)
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 1)
    os.close(read)
    assert status == 0 and answer == b"1"


@pytest.mark.parametrize("n", [3, 6, 11])
def test_affine_permutations_in_place_and_through_scratch_agree(n):
    """CNOT, SWAP and X networks as two small tables (:func:`~qdiff.sim.tape._affine_tables`):
    the map equals the whole-state permutation, its inverse undoes it both through scratch and
    (the wide sweep's two states at once) by following its cycles in place, and repeated layers
    share one table."""
    K = jit.kernels("tape_kernels")
    rng = np.random.default_rng(n)
    c = Circuit(n)
    for _ in range(3 * n):
        a, b = (int(q) for q in rng.choice(n, 2, replace=False))
        (c.cx if rng.random() < 0.6 else c.swap)(a, b)
        if rng.random() < 0.3:
            c.x(a)
    steps = compile_circuit(c).steps
    tables = tape_module._affine_tables(steps, n)
    perm, phases = tape_module._whole_permutation(steps, n)
    h = int(tables[0])
    j = np.arange(1 << n)
    assert np.array_equal(tables[1 + (1 << h) + (j >> h)] ^ tables[1 + (j & ((1 << h) - 1))], perm)
    assert np.all(phases == 1) and not np.array_equal(perm, j)
    x = rng.standard_normal(1 << n) + 1j * rng.standard_normal(1 << n)
    forward = x.copy()
    K._permute_affine(forward, np.empty_like(x), tables, 0, False)
    assert np.array_equal(forward[perm], x)  # new[perm[j]] = old[j]
    scattered, followed, other = forward.copy(), forward.copy(), 2 * forward
    K._permute_affine(scattered, np.empty_like(x), tables, 0, True)
    K._affine_in_place(followed, other, np.empty((1 << n) // 64 + 1, dtype=np.uint64), tables, 0)
    assert np.array_equal(scattered, x) and np.array_equal(followed, x) and np.array_equal(other, 2 * x)
    layered = Circuit(n)
    for layer in range(3):
        for q in range(n):
            layered.ry(0.1 * layer + q, q)
        for q in range(n - 1):
            layered.cx(q, q + 1)
    tape = tape_module.lower(compile_circuit(layered))
    groups = tape.gkind == K.GROUP_AFFINE
    assert groups.sum() == 3 and len(set(tape.gi[groups].tolist())) == 1  # one table for the three chains


_ONE_QUBIT_FIXED = ("h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "sxdg", "id")


def _random_gate_mix(seed: int, n: int, streaming: bool, gates: tuple[int, int] = (10, 60)) -> Circuit:
    """``gates`` (low, high) gates drawn at random from the whole gate set (fixed and parametrized, shared and
    affine angles, up to six-qubit Pauli rotations, Toffolis, multi-controlled X, fixed unitaries
    on up to three qubits), or, with ``streaming``, from the gates a wide tape runs (one-qubit
    gates, CNOT, SWAP, CZ, diagonal two-qubit rotations, Pauli strings)."""
    rng = np.random.default_rng(seed)
    w, t = qdiff.ParameterVector("w", 6), Parameter("t")
    angles = [w[0], 2 * w[1] + 0.3, -w[2], w[3] - t, t, 0.4, w[4], 0.5 * w[5]]
    c = Circuit(n, global_phase=float(rng.random()))

    def qubits(m: int) -> list[int]:
        return [int(q) for q in rng.choice(n, size=m, replace=False)]

    def angle():  # type: ignore[no-untyped-def]
        return angles[int(rng.integers(len(angles)))]

    def pick(names: tuple[str, ...]) -> str:
        return names[int(rng.integers(len(names)))]

    for _ in range(int(rng.integers(*gates))):
        r = rng.random()
        if r < 0.2:
            getattr(c, pick(_ONE_QUBIT_FIXED))(qubits(1)[0])
        elif r < 0.4:
            getattr(c, pick(("rx", "ry", "rz", "p")))(angle(), qubits(1)[0])
        elif r < 0.6:
            getattr(c, pick(("cx", "swap", "cz")))(*qubits(2))
        elif r < 0.7:
            getattr(c, pick(("rzz", "cp", "crz")))(angle(), *qubits(2))
        elif r < 0.78:
            m = int(rng.integers(1, min(n, 6) + 1))
            c.pauli_rot("".join(rng.choice(list("XYZ"), size=m)), qubits(m), angle())
        elif r < 0.82:
            c.u(angle(), angle(), angle(), qubits(1)[0])
        elif streaming:
            c.cx(*qubits(2))
        elif r < 0.88:
            getattr(c, pick(("cy", "ch", "iswap")))(*qubits(2))
        elif r < 0.93:
            getattr(c, pick(("crx", "cry", "rxx", "ryy", "rzx")))(angle(), *qubits(2))
        elif r < 0.95:
            c.ccx(*qubits(3))
        elif r < 0.97:
            c.cswap(*qubits(3))
        elif r < 0.985 and n > 4:
            q = qubits(4)
            c.mcx(q[:3], q[3])
        else:
            k = int(rng.integers(1, 4))
            z = rng.standard_normal((1 << k, 1 << k)) + 1j * rng.standard_normal((1 << k, 1 << k))
            c.unitary(np.linalg.qr(z)[0], qubits(k))
    return c


@pytest.mark.parametrize("seed", range(24))
def test_random_gate_mixes_match_the_steps_and_backprop(seed):
    """Seeded random mixes of the whole gate set on 3-10 qubits, 1-33 rows (threaded rows
    included), a random initial state: the tape's forward equals the unfused steps, its gradients
    (values and initial state) backprop's. (Offline, 1850 such seeds and 241 wide ones passed.)"""
    rng = np.random.default_rng(10_000 + seed)
    n, rows = int(rng.integers(3, 11)), int(rng.choice([1, 3, 9, 33]))
    c = _random_gate_mix(seed, n, streaming=seed % 4 == 0)
    g = torch.Generator().manual_seed(seed)
    values = 4 * torch.rand(rows, c.num_parameters, generator=g, dtype=torch.float64) - 2
    states = torch.randn(rows, 1 << n, generator=g, dtype=torch.complex128)
    _assert_tape_matches(c, values, X(0) @ Y(n - 1) + 0.5 * Z(1) @ Z(n // 2) - 0.3 * Y(2), states)


@functools.cache
def _wide_streaming_seeds(count: int) -> tuple[int, ...]:
    """The first ``count`` seeds from 100 whose wide random mix streams (a Pauli rotation fused with
    neighbours into a dense step on three or more qubits does not, and such a circuit runs on the
    torch plan; fused into a dense two-qubit step it streams as quads: seeds 100, 101, 104 and 105
    have one to four)."""
    n, seeds, seed = tape_module.TAPE_MAX_QUBITS + 1, [], 100
    while len(seeds) < count:
        if tape_module.streams(compile_circuit(_random_gate_mix(seed, n, streaming=True, gates=(60, 120)))):
            seeds.append(seed)
        seed += 1
    return tuple(seeds)


@pytest.mark.parametrize("index", range(6))
def test_random_streaming_mixes_on_wide_states(monkeypatch, index):
    """Past TAPE_MAX_QUBITS: random mixes of 60-120 gates that a wide tape runs, on one and two
    rows (each pass cut over threads) and nine (a row a thread), agree with the steps and with
    backprop, and the tape really ran them."""
    counts = _count(monkeypatch)
    n = tape_module.TAPE_MAX_QUBITS + 1
    seed = _wide_streaming_seeds(6)[index]
    c = _random_gate_mix(seed, n, streaming=True, gates=(60, 120))
    rows = (9, 1, 2)[index % 3]
    g = torch.Generator().manual_seed(seed)
    values = 4 * torch.rand(rows, c.num_parameters, generator=g, dtype=torch.float64) - 2
    _assert_tape_matches(c, values, X(0) @ Y(n - 1) + Z(3) @ Z(7))
    assert counts == {"run": 1, "sweep": 1}


def test_rows_that_share_a_basis_state_read_it_from_one_row(monkeypatch):
    """A batch that starts from a basis state is laid out as one row seen B times (stride 0): the
    forward kernel gets that one row and copies it into each result row; a user's complex128
    states are read in place and left untouched; results equal one call per row, for every
    engine's gradient too (the plan engines copy the row as they start)."""
    seen: list[tuple[int, ...]] = []
    real_rows = tape_module._initial_rows

    def recording(state, *dtype):  # type: ignore[no-untyped-def]
        rows = real_rows(state, *dtype)
        seen.append(rows.shape)
        return rows

    monkeypatch.setattr(tape_module, "_initial_rows", recording)
    c = _random_gate_mix(7, 5, streaming=False)
    values = torch.rand(6, c.num_parameters, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    prep = prepare(c, values, initial_state=5)
    assert prep.initial.shape == (6, 32) and prep.initial.stride(0) == 0
    batched = qdiff.state(c, values, initial_state=5)
    assert seen == [(1, 32)]
    one_by_one = torch.stack([qdiff.state(c, v, initial_state=5) for v in values])
    torch.testing.assert_close(batched, one_by_one, atol=1e-12, rtol=0)
    states = torch.randn(6, 32, generator=torch.Generator().manual_seed(8), dtype=torch.complex128)
    kept = states.clone()
    view = real_rows(states)
    assert np.shares_memory(view, states.numpy()) and view.shape == (6, 32)  # read in place, no copy
    qdiff.state(c, values, initial_state=states)
    assert torch.equal(states, kept)
    obs = X(0) @ Z(4) + Y(2)
    grads = {}
    for method in ("adjoint", "backprop", "param_shift"):
        v = values.clone().requires_grad_(True)
        qdiff.expval(c, obs, v, initial_state=5, method=method).sum().backward()
        grads[method] = v.grad
    torch.testing.assert_close(grads["adjoint"], grads["backprop"], atol=1e-10, rtol=0)
    torch.testing.assert_close(grads["param_shift"], grads["backprop"], atol=1e-10, rtol=0)


LANE_K = jit.kernels("tape_kernels")


def _count_lanes(monkeypatch) -> list[tuple[tuple[int, ...], np.dtype]]:
    """The ``(shape, dtype)`` of the state of each call of the lane kernel from now on."""
    calls: list[tuple[tuple[int, ...], np.dtype]] = []
    real = LANE_K.run_lanes

    def counted(*args):  # type: ignore[no-untyped-def]
        calls.append((args[0].shape, args[0].dtype))
        return real(*args)

    monkeypatch.setattr(LANE_K, "run_lanes", counted)
    return calls


def _runs_and_permutations(seed: int, n: int, gates: int = 40) -> Circuit:
    """Random one-qubit gates (fixed and parametrized, shared and affine angles) between CNOTs and
    SWAPs, with Toffolis and CYs next to them (consecutive fixed monomials make one whole-state
    permutation; a lone one would be a step of its own) and diagonals on two to four qubits (``rzz``,
    ``cz``, ``cp``, ``crz``, Z strings): every group of its tape runs side by side
    (:attr:`Tape.side_by_side`)."""
    rng = np.random.default_rng(seed)
    w = qdiff.ParameterVector("w", 4)
    angles = [w[0], 2 * w[1] + 0.3, -w[2], w[3], 0.4]
    c = Circuit(n, global_phase=0.2)
    for _ in range(gates):
        q = [int(x) for x in rng.choice(n, size=min(n, 3), replace=False)]
        r = rng.random()
        if r < 0.5:
            getattr(c, ("rx", "ry", "rz", "p")[int(rng.integers(4))])(angles[int(rng.integers(5))], q[0])
        elif r < 0.65:
            getattr(c, _ONE_QUBIT_FIXED[int(rng.integers(len(_ONE_QUBIT_FIXED)))])(q[0])
        elif r < 0.7:
            c.u(angles[0], angles[1], angles[2], q[0])
        elif r < 0.8:
            getattr(c, ("cx", "swap")[int(rng.integers(2))])(q[0], q[1])
        elif r < 0.9:
            pick = int(rng.integers(5))
            if pick == 0:
                c.cz(q[0], q[1])
            elif pick < 4:
                getattr(c, ("rzz", "cp", "crz")[pick - 1])(angles[int(rng.integers(5))], q[0], q[1])
            elif n >= 3:
                c.pauli_rot("ZZZ", tuple(q), angles[int(rng.integers(5))])
        elif n >= 3:
            c.ccx(*q).cy(q[1], q[0])  # with phases: one whole-state permutation
    return c


def _run_kernel(name: str, c: Circuit, values: torch.Tensor, initial: torch.Tensor, blocks: int = 0,
                real: np.ndarray | None = None) -> np.ndarray:
    """The final states of the tape kernel ``name`` (``"run"`` or ``"run_lanes"`` in ``blocks``
    blocks, with the tape's real runs or ``real``)."""
    program = compile_circuit(c)
    tape = tape_module.lower(program)
    a = tape_module._angles(program.on(torch.complex128, torch.device("cpu")).angles(values))
    out = np.empty((initial.shape[0] if initial.shape[0] > 1 else values.shape[0], 1 << c.num_qubits), complex)
    if name == "run":
        LANE_K.run(out, initial.numpy(), a, *tape_module._arrays(tape))
    else:
        cos, sin = tape_module.lane_trigonometry(tape, a, out.shape[0])
        real = tape.lane_real if real is None else real
        LANE_K.run_lanes(out, initial.numpy(), a, cos, sin, tape.lane_trig[0], real, blocks,
                         *tape_module._arrays(tape))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_lane_blocks_equal_the_row_kernel_on_random_circuits(seed):
    """Rows run side by side in blocks (one-qubit runs as lane passes, permutations of the whole
    block, diagonal passes) give the row kernel's states: 2-8 qubits, 1-130 rows in 1-5 blocks of
    uneven sizes, per-row or shared angles and initial states, or one basis state for all."""
    rng = np.random.default_rng(20_000 + seed)
    n = int(rng.integers(2, 9))
    c = _runs_and_permutations(seed, n)
    assert tape_module.lower(compile_circuit(c)).side_by_side
    rows, blocks = int(rng.choice([1, 7, 40, 130])), int(rng.integers(1, 6))
    blocks = min(blocks, rows)
    g = torch.Generator().manual_seed(seed)
    values = 4 * torch.rand(rows if seed % 2 else 1, c.num_parameters, generator=g, dtype=torch.float64) - 2
    initial = torch.randn(rows if seed % 4 < 2 else 1, 1 << n, generator=g, dtype=torch.complex128)
    if seed % 3 == 2:  # one basis state (with a phase) starts every row: the lanes start as a product
        initial = torch.zeros(1, 1 << n, dtype=torch.complex128)
        initial[0, int(rng.integers(1 << n))] = complex(np.cos(0.7), np.sin(0.7))
        values = values.expand(rows, -1).contiguous()
    if values.shape[0] == 1 and initial.shape[0] == 1:
        initial = initial.expand(rows, -1).contiguous()  # at least one side says how many rows
    expected = _run_kernel("run", c, values, initial)
    got = _run_kernel("run_lanes", c, values, initial, blocks)
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)


def test_real_runs_take_the_real_lane_pass():
    """Runs real at every angle (``ry``, ``h``, ``x``, ``z``, and products of them) are flagged and
    the lanes apply them as a real 2 x 2 with the row kernel's result; runs with ``rx``, ``rz``,
    ``y``, ``s`` are not. Forcing the flag onto the complex runs changes the result: the flag is
    what picks the pass."""
    a, b, d = Parameter("a"), Parameter("b"), Parameter("d")
    c = Circuit(3).ry(a, 0).h(0).x(0).z(0).rx(b, 1).cx(0, 1).ry(2 * d, 2).rz(a, 2).cx(1, 2).y(1).s(0).ry(b, 1)
    tape = tape_module.lower(compile_circuit(c))
    runs = np.flatnonzero(tape.gkind == LANE_K.GROUP_RUN)
    assert (tape.gstart[runs + 1] - tape.gstart[runs]).tolist() == [4, 1, 2, 1, 1, 1]  # ry h x z|rx|ry rz|y|s|ry
    assert tape.lane_real[runs].tolist() == [1, 0, 0, 0, 0, 1]
    assert np.all(tape.lane_real[tape.gkind != LANE_K.GROUP_RUN] == 0)
    values = 4 * torch.rand(7, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) - 2
    initial = torch.randn(7, 8, generator=torch.Generator().manual_seed(6), dtype=torch.complex128)
    expected = _run_kernel("run", c, values, initial)
    np.testing.assert_allclose(_run_kernel("run_lanes", c, values, initial, 2), expected, atol=1e-13, rtol=0)
    forced = _run_kernel("run_lanes", c, values, initial, 2, real=(tape.gkind == LANE_K.GROUP_RUN).astype(np.int64))
    assert np.abs(forced - expected).max() > 0.1


def test_lanes_from_a_basis_state_start_as_a_product_of_the_leading_runs():
    """From one basis state the lanes build the state after the leading one-qubit runs as a
    product, and stop at the first run on a qubit met before (the fourth group here): the row
    kernel's state after those three gates, lane by lane."""
    a, b = Parameter("a"), Parameter("b")
    c = Circuit(3).ry(a, 0).rx(b, 1).h(2).ry(2 * a, 0).cx(0, 1)
    head = Circuit(3).ry(a, 0).rx(b, 1).h(2)
    tape = tape_module.lower(compile_circuit(c))
    values = torch.tensor([[0.3, -1.1], [2.0, 0.4], [-0.7, 0.9]], dtype=torch.float64)
    a_ = tape_module._angles(compile_circuit(c).on(torch.complex128, torch.device("cpu")).angles(values))
    cos, sin = tape_module.lane_trigonometry(tape, a_, 3)
    basis, phase = 5, complex(0.6, 0.8)
    initial = np.zeros((1, 8), complex)
    initial[0, basis] = phase
    assert LANE_K._basis_start(initial) == (basis, phase)
    assert LANE_K._basis_start(np.ones((1, 8), complex))[0] == -1 and LANE_K._basis_start(np.zeros((2, 8), complex))[0] == -1
    re, im, _, _, m, _, _, v = LANE_K._lane_workspace(np.zeros((3, 8), complex), 3, False)
    used = LANE_K._lanes_product(re, im, v, m, basis, phase, cos, sin, tape.lane_trig[0], tape.lane_real, 0, 3,
                                 tape.gkind, tape.gstart, tape.kind, tape.qstart, tape.qubits, tape.cstart, tape.istart,
                                 tape.cdata, tape.idata)
    assert used == 3
    got = np.empty((3, 8), complex)
    LANE_K._lanes_store(got, re, im, 0, 3)
    expected = _run_kernel("run", head, values, torch.from_numpy(initial).expand(3, -1).contiguous())
    np.testing.assert_allclose(got, expected, atol=1e-14, rtol=0)


def test_lane_trig_columns_cover_every_rotation_spectrum():
    """Pauli rotations share one column for both phases (sign -1), a phase gate's zero eigenvalue
    reads the angle-zero column, fixed and multi-qubit steps read only that column."""
    c = Circuit(2).rx(Parameter("a"), 0).p(Parameter("b"), 1).h(0).rzz(Parameter("c"), 0, 1)
    tape = tape_module.lower(compile_circuit(c))
    trig, slots, eigenvalues = tape.lane_trig
    zero = len(slots)
    one_qubit = tape.qstart[1:] - tape.qstart[:-1] == 1
    rotating = (tape.slot >= 0) & one_qubit
    assert rotating.sum() == 2 and len(slots) == 2  # rx: one column for both phases; p: one, and zero
    assert np.all(trig[~rotating, :2] == zero)
    rx, p = np.flatnonzero(rotating)
    assert trig[rx, 0] == trig[rx, 1] and trig[rx, 2] == -1 and abs(eigenvalues[trig[rx, 0]]) == 0.5
    assert zero in trig[p, :2] and trig[p, 2] == 1
    cos, sin = tape_module.lane_trigonometry(tape, np.array([[0.3, 0.7, 0.1]]), 3)
    assert cos.shape == (3, 3) and np.all(cos[zero] == 1) and np.all(sin[zero] == 0)
    np.testing.assert_allclose(cos[trig[rx, 0]], np.cos(0.3 * eigenvalues[trig[rx, 0]]), rtol=0, atol=1e-15)
    cos32, sin32 = tape_module.lane_trigonometry(tape, np.array([[0.3, 0.7, 0.1]]), 3, np.float32)  # complex64 lanes
    assert cos32.dtype == sin32.dtype == np.float32
    np.testing.assert_allclose(cos32, cos, rtol=0, atol=1e-7)
    np.testing.assert_allclose(sin32, sin, rtol=0, atol=1e-7)


def test_large_batches_run_side_by_side_through_the_public_calls(monkeypatch):
    """A batch with two full blocks a thread takes the lane kernel (counted), in complex128 and
    complex64 (computed in float32), and equals one call per row, gradients included."""
    import numba

    calls = _count_lanes(monkeypatch)
    c = _runs_and_permutations(3, 6)
    assert tape_module.lower(compile_circuit(c)).side_by_side
    rows = 2 * LANE_K.LANE_MIN * numba.get_num_threads() + 3
    values = torch.rand(rows, c.num_parameters, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    obs = X(0) @ Z(4) + Y(2)
    for dtype, tol in ((torch.complex128, 1e-12), (torch.complex64, 2e-5)):
        v = values.to(dtype.to_real())
        batched = qdiff.state(c, v, dtype=dtype)
        one_by_one = torch.stack([qdiff.state(c, v[r], dtype=dtype) for r in range(0, rows, 17)])
        torch.testing.assert_close(batched[::17], one_by_one, atol=tol, rtol=0)
    assert calls == [((rows, 64), np.complex128), ((rows, 64), np.complex64)]  # complex64 lanes compute in float32
    v = values.clone().requires_grad_(True)
    qdiff.expval(c, obs, v).sum().backward()
    w = values[:5].clone().requires_grad_(True)
    qdiff.expval(c, obs, w, method="backprop").sum().backward()
    torch.testing.assert_close(v.grad[:5], w.grad, atol=1e-10, rtol=0)
    v32 = values.float().requires_grad_(True)  # a complex64 forward in float32 lanes, then the sweep
    qdiff.expval(c, obs, v32, dtype=torch.complex64).sum().backward()
    torch.testing.assert_close(v32.grad.double(), v.grad, atol=2e-5, rtol=0)
    assert len(calls) == 4 and calls[-1][1] == np.complex64


@pytest.mark.parametrize("affine", [True, False])
def test_lane_permutations_equal_the_row_permutations(affine):
    """A whole-state monomial on a block of lanes (with phases, or an affine CNOT network) moves
    every lane as the row kernel's permutation moves a row."""
    c = Circuit(4).cx(0, 1).cx(1, 3).swap(2, 0) if affine else Circuit(4).cy(0, 1).ccx(1, 2, 3).cz(3, 0)
    tape = tape_module.lower(compile_circuit(c))
    kind = LANE_K.GROUP_AFFINE if affine else LANE_K.GROUP_PERMUTATION
    (g,) = np.flatnonzero(tape.gkind == kind)
    assert affine or tape.gc[g] >= 0  # a permutation with phases
    rows = np.random.default_rng(1).standard_normal((3, 16)) + 1j * np.random.default_rng(2).standard_normal((3, 16))
    expected = rows.copy()
    for r in range(3):
        if affine:
            LANE_K._permute_affine(expected[r], np.empty(16, complex), tape.idata, tape.gi[g], False)
        else:
            LANE_K._permute(expected[r], np.empty(16, complex), tape.idata, tape.gi[g], tape.cdata, tape.gc[g], False)
    re, im, out_re, out_im = np.empty(48), np.empty(48), np.full(48, np.nan), np.full(48, np.nan)
    LANE_K._lanes_load(re, im, rows, 0, 3)
    LANE_K._lane_permute(re, im, out_re, out_im, affine, tape.idata, tape.gi[g], tape.cdata, tape.gc[g], 3)
    got = np.empty((3, 16), complex)
    LANE_K._lanes_store(got, out_re, out_im, 0, 3)  # every amplitude written: no NaN left
    np.testing.assert_allclose(got, expected, atol=1e-14, rtol=0)


@pytest.mark.parametrize("real", [0, 1])
@pytest.mark.parametrize("permutation", ["affine", "table", "phases"])
def test_a_run_and_the_permutation_after_it_make_one_lane_pass(permutation, real):
    """A run's pass with the whole-state permutation that follows it written along (one pass, out
    of place) equals the pass and then the permutation, for each lane's own operator, real or
    complex: the affine tables of a CNOT network, a whole-state table (a SWAP and a Toffoli), or a
    table with phases (CZs among CNOTs and a CY)."""
    c = {"affine": Circuit(4).cx(0, 1).cx(1, 3).swap(2, 0),
         "table": Circuit(4).swap(0, 1).ccx(1, 2, 3),
         "phases": Circuit(4).cz(0, 1).cx(1, 3).cy(2, 0).cz(3, 2)}[permutation]
    tape = tape_module.lower(compile_circuit(c))
    affine = permutation == "affine"
    (g,) = np.flatnonzero(tape.gkind == (LANE_K.GROUP_AFFINE if affine else LANE_K.GROUP_PERMUTATION))
    assert (tape.gc[g] >= 0) == (permutation == "phases")
    rng = np.random.default_rng(3)
    L = 5
    m = rng.standard_normal(8 * L)  # the real pass reads only the real parts
    rows = rng.standard_normal((L, 16)) + 1j * rng.standard_normal((L, 16))
    for q in range(4):
        re, im = np.empty(16 * L), np.empty(16 * L)
        LANE_K._lanes_load(re, im, rows, 0, L)
        out_re, out_im = np.full(16 * L, np.nan), np.full(16 * L, np.nan)
        LANE_K._lane_pairs_moved(re, im, out_re, out_im, q, m, real, affine, tape.idata, tape.gi[g], tape.cdata,
                                 tape.gc[g], L)
        LANE_K._lane_pairs(re, im, q, m, real, L)
        ref_re, ref_im = np.empty(16 * L), np.empty(16 * L)
        LANE_K._lane_permute(re, im, ref_re, ref_im, affine, tape.idata, tape.gi[g], tape.cdata, tape.gc[g], L)
        np.testing.assert_allclose(out_re, ref_re, atol=1e-13, rtol=0)
        np.testing.assert_allclose(out_im, ref_im, atol=1e-13, rtol=0)


def test_a_lane_block_refuses_a_step_it_cannot_run_side_by_side():
    """A block meeting a step the lanes do not run together (a controlled X rotation) raises
    instead of computing something else; tape.lanes never sends such a tape."""
    c = Circuit(3).ry(Parameter("a"), 0).crx(Parameter("b"), 0, 2)
    tape = tape_module.lower(compile_circuit(c))
    assert not tape.side_by_side
    state = np.empty((2, 8), complex)
    angles = np.array([[0.1, 0.2], [0.3, 0.4]])
    cos, sin = tape_module.lane_trigonometry(tape, angles, 2)
    lanes = LANE_K._lane_workspace(state, 2, False)
    initial = np.eye(1, 8, dtype=complex)
    with pytest.raises(ValueError, match="side by side"):
        LANE_K._run_block(state, initial, angles, cos, sin, tape.lane_trig[0], tape.lane_real, 0, 2, lanes,
                          *tape_module._arrays(tape))


@pytest.mark.parametrize("size", [7, tape_module.NUMPY_MAX_ELEMENTS + 1], ids=["numpy", "torch"])
def test_dtype_conversions_small_in_numpy_large_in_torch(size):
    """The tape's conversions give torch's values on both sides of NUMPY_MAX_ELEMENTS, and views
    (no copy) when nothing needs converting."""
    g = torch.Generator().manual_seed(size)
    x = torch.randn(2, size, dtype=torch.complex64, generator=g)
    got = tape_module._numpy_as(x, np.complex128)
    assert got.dtype == np.complex128 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, x.to(torch.complex128).numpy())
    strided = torch.randn(size, 2, dtype=torch.complex128, generator=g).T  # not contiguous
    np.testing.assert_array_equal(tape_module._numpy_as(strided, np.complex128), strided.contiguous().numpy())
    same = torch.randn(2, size, dtype=torch.complex128, generator=g)
    assert np.shares_memory(tape_module._numpy_as(same, np.complex128), same.numpy())
    back = tape_module._torch_as(got, torch.complex64)
    assert back.dtype == torch.complex64 and torch.equal(back, x)
    assert np.shares_memory(tape_module._torch_as(got, torch.complex128).numpy(), got)
    angles = torch.rand(size, dtype=torch.float32, generator=g)
    np.testing.assert_array_equal(tape_module._angles(angles), angles.double().numpy())


def test_complex64_lanes_reach_wider_states_than_complex128(monkeypatch):
    """One qubit wider than complex128 batches run side by side (13), a large complex64 batch
    does, in float32 (counted), and a complex128 one runs row by row; both give the same states
    within complex64's precision."""
    import numba

    calls = _count_lanes(monkeypatch)
    n = tape_module.LANE_MAX_QUBITS + 1
    assert n <= tape_module.LANE_MAX_QUBITS_COMPLEX64
    c = _runs_and_permutations(5, n)
    rows = 2 * LANE_K.LANE_MIN * numba.get_num_threads()
    values = torch.rand(rows, c.num_parameters, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    wide = qdiff.state(c, values)
    single = qdiff.state(c, values.float(), dtype=torch.complex64)
    assert calls == [((rows, 1 << n), np.complex64)]
    torch.testing.assert_close(single.to(torch.complex128), wide, atol=2e-5, rtol=0)


def test_sampling_runs_the_compiled_tape_once(monkeypatch):
    """``qdiff.sample`` takes its probabilities from the default engine, whose forward on a small
    CPU state is the tape (one call for the whole batch, no sweep): the samples follow
    ``qdiff.probs`` (every outcome drawn is possible, frequencies near the probabilities)."""
    counts = _count(monkeypatch)
    c = Circuit(3).h(0).cx(0, 1).ry(Parameter("a"), 2)
    values = torch.tensor([[0.3], [2.0]], dtype=torch.float64)
    shots = qdiff.sample(c, values, shots=20_000, seed=3)
    assert counts == {"run": 1, "sweep": 0}
    p = qdiff.probs(c, values)
    for row in range(2):
        frequencies = torch.bincount(shots[row], minlength=8).double() / 20_000
        assert torch.all(frequencies[p[row] < 1e-12] == 0)
        torch.testing.assert_close(frequencies, p[row], atol=0.015, rtol=0)


def test_only_tapes_of_runs_permutations_and_diagonals_run_side_by_side(monkeypatch):
    """Lanes run a step other than a run, a whole-state permutation or a diagonal one lane at a
    time (slower than the row kernel), so only tapes without such steps take them; QAOA's rzz
    steps run side by side (counted) and agree with the row kernel."""
    import numba

    rows = torch.zeros(2 * LANE_K.LANE_MIN * numba.get_num_threads(), 64, dtype=torch.complex128)
    qaoa = Circuit(6)
    for q in range(6):
        qaoa.h(q)
    for q in range(5):
        qaoa.rzz(Parameter("g"), q, q + 1)
    for q in range(6):
        qaoa.rx(Parameter("b"), q)
    qaoa.cz(0, 5).cp(Parameter("b") - 0.2, 1, 3).pauli_rot("ZZZ", (0, 2, 4), Parameter("g"))  # more diagonals
    for c, expected in ((qaoa, True), (_wide(6), False), (_runs_and_permutations(1, 6), True)):
        tape = tape_module.lower(compile_circuit(c))
        assert tape.side_by_side == expected
        assert tape_module.lanes(tape, rows) == expected
        assert tape_module.lanes(tape, rows[:LANE_K.LANE_MIN]) is False  # too few rows either way
    calls = _count_lanes(monkeypatch)
    values = torch.rand(rows.shape[0], qaoa.num_parameters, generator=torch.Generator().manual_seed(9),
                        dtype=torch.float64)
    batched = qdiff.state(qaoa, values)
    assert calls == [(tuple(rows.shape), np.complex128)]
    torch.testing.assert_close(batched[::31], torch.stack([qdiff.state(qaoa, v) for v in values[::31]]),
                               atol=1e-12, rtol=0)
