"""The compiled program and fused plan hold their 2**k-entry data as arrays, never as Python sequences.

A merged CX chain on all 16 qubits is a monomial of 2**16 entries; kept as tuples of Python ints
and complex numbers it cost ~36 bytes an entry, for every layer. This walks every object the plan
reaches (after a forward and an adjoint backward, so the kernels' caches are filled) and fails on
any list, tuple, dict or set of 2**n elements or more.
"""

from __future__ import annotations

import gc
import types

import numpy as np
import torch

import qdiff
from qdiff.apps.ansatz import hardware_efficient
from qdiff.sim.program import compile_circuit

N = 16


def _reachable(root: object) -> list[object]:
    """Every object reachable from ``root`` through ``gc.get_referents``, modules, classes and functions excluded."""
    seen, out, todo = set(), [], [root]
    skip = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        out.append(obj)
        todo.extend(gc.get_referents(obj))
    return out


def test_plan_holds_no_python_sequence_of_2_to_the_n_elements() -> None:
    circuit = hardware_efficient(N, 3)
    x = torch.rand(circuit.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                   requires_grad=True)
    qdiff.expval(circuit, qdiff.Z(0) @ qdiff.Z(1) + qdiff.X(2), x, method="adjoint").backward()
    program = compile_circuit(circuit).on(torch.complex128, torch.device("cpu"))
    plan = program.plan(1, 1)
    # the path this test is about: a whole-register monomial (the merged CX chain) in the plan
    whole = [b for b in plan.blocks if b.kind == "monomial" and len(b.qubits) == N]
    assert len(whole) == 3
    assert isinstance(whole[0].fixed.perm, np.ndarray) and whole[0].fixed.perm.shape == (1 << N,)
    assert len({id(b.fixed) for b in whole}) == 1  # identical layers share one plan (and its indices)
    objects = _reachable(program)
    assert any(o is whole[0].fixed for o in objects)  # the walk reaches the plan's monomials
    big = [(type(o).__name__, len(o)) for o in objects
           if isinstance(o, (list, tuple, dict, set, frozenset)) and len(o) >= 1 << N]
    assert big == []
