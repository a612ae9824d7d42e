"""The gate library: one :class:`GateSpec` per gate, matching Qiskit's matrices exactly.

Named gates live in :data:`GATES`; gates with a free shape (``mcx`` with any number of controls,
``pauli_rot`` with any Pauli string, ``unitary`` with any matrix) come from cached factories.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from qdiff.errors import GateError
from qdiff.ir.gates import (
    CompositeFactor,
    GateSpec,
    controlled_generator,
    controlled_matrix,
    is_unitary,
)

I2 = np.eye(2, dtype=complex)
PAULI = {
    "I": I2,
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
_H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
_SX = np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]], dtype=complex) / 2


def kron_le(*factors: np.ndarray) -> np.ndarray:
    """Little-endian tensor product: ``factors[i]`` acts on local qubit ``i`` (bit ``i``)."""
    out = np.ones((1, 1), dtype=complex)
    for f in factors:
        out = np.kron(f, out)
    return out


def _fixed(name: str, matrix: np.ndarray, qiskit_name: str | None = None, inverse: str | None = None,
           num_controls: int = 0, base: GateSpec | None = None) -> GateSpec:
    k = int(np.log2(matrix.shape[0]))
    return GateSpec(name, k, 0, "fixed", qiskit_name or name, fixed_matrix=matrix,
                    inverse_name=inverse, num_controls=num_controls, base=base)


def _rotation(name: str, generator: np.ndarray, qiskit_name: str | None = None,
              num_controls: int = 0, base: GateSpec | None = None) -> GateSpec:
    k = int(np.log2(generator.shape[0]))
    return GateSpec(name, k, 1, "rotation", qiskit_name or name, generator=generator,
                    num_controls=num_controls, base=base)


def _controlled_fixed(name: str, base: GateSpec, inverse: str | None = None) -> GateSpec:
    return _fixed(name, controlled_matrix(base.fixed_matrix, 1), inverse=inverse, num_controls=1, base=base)


def _controlled_rotation(name: str, base: GateSpec) -> GateSpec:
    return _rotation(name, controlled_generator(base.generator_matrix, 1), num_controls=1, base=base)


def _build_library() -> dict[str, GateSpec]:
    g: dict[str, GateSpec] = {}

    def add(spec: GateSpec) -> GateSpec:
        g[spec.name] = spec
        return spec

    add(_fixed("id", I2, inverse="id"))
    x = add(_fixed("x", PAULI["X"], inverse="x"))
    y = add(_fixed("y", PAULI["Y"], inverse="y"))
    z = add(_fixed("z", PAULI["Z"], inverse="z"))
    h = add(_fixed("h", _H, inverse="h"))
    add(_fixed("s", np.diag([1, 1j]), inverse="sdg"))
    add(_fixed("sdg", np.diag([1, -1j]), inverse="s"))
    add(_fixed("t", np.diag([1, np.exp(1j * np.pi / 4)]), inverse="tdg"))
    add(_fixed("tdg", np.diag([1, np.exp(-1j * np.pi / 4)]), inverse="t"))
    add(_fixed("sx", _SX, inverse="sxdg"))
    add(_fixed("sxdg", _SX.conj().T, inverse="sx"))

    rx = add(_rotation("rx", PAULI["X"] / 2))
    ry = add(_rotation("ry", PAULI["Y"] / 2))
    rz = add(_rotation("rz", PAULI["Z"] / 2))
    p = add(_rotation("p", np.diag([0, -1]).astype(complex)))

    add(_controlled_fixed("cx", x, inverse="cx"))
    add(_controlled_fixed("cy", y, inverse="cy"))
    add(_controlled_fixed("cz", z, inverse="cz"))
    add(_controlled_fixed("ch", h, inverse="ch"))
    add(_controlled_rotation("crx", rx))
    add(_controlled_rotation("cry", ry))
    add(_controlled_rotation("crz", rz))
    add(_controlled_rotation("cp", p))

    swap = np.eye(4, dtype=complex)[[0, 2, 1, 3]]
    add(_fixed("swap", swap, inverse="swap"))
    iswap = np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]], dtype=complex)
    add(_fixed("iswap", iswap))
    add(_rotation("rxx", kron_le(PAULI["X"], PAULI["X"]) / 2))
    add(_rotation("ryy", kron_le(PAULI["Y"], PAULI["Y"]) / 2))
    add(_rotation("rzz", kron_le(PAULI["Z"], PAULI["Z"]) / 2))
    add(_rotation("rzx", kron_le(PAULI["Z"], PAULI["X"]) / 2))

    add(GateSpec(
        "u", 1, 3, "composite", "u",
        factors=(
            CompositeFactor(p, (0,), ((0.0, 0.0, 1.0),), (0.0,)),
            CompositeFactor(ry, (0,), ((1.0, 0.0, 0.0),), (0.0,)),
            CompositeFactor(p, (0,), ((0.0, 1.0, 0.0),), (0.0,)),
        ),
        inverse_angles=lambda a: (-a[0], -a[2], -a[1]),
    ))

    ccx = _fixed("ccx", controlled_matrix(PAULI["X"], 2), inverse="ccx", num_controls=2, base=x)
    add(ccx)
    add(_fixed("cswap", controlled_matrix(swap, 1), inverse="cswap", num_controls=1,
               base=_fixed("swap", swap, inverse="swap")))
    return g


GATES: dict[str, GateSpec] = _build_library()
"""Every named gate, by qdiff name."""


@lru_cache(maxsize=None)
def mcx_spec(num_controls: int) -> GateSpec:
    """Multi-controlled X with ``num_controls`` controls (local qubits ``0..nc-1``), target last."""
    if num_controls < 1:
        raise GateError("mcx needs at least one control qubit")
    if num_controls == 1:
        return GATES["cx"]
    if num_controls == 2:
        return GATES["ccx"]
    return _fixed("mcx", controlled_matrix(PAULI["X"], num_controls), "mcx", inverse="mcx",
                  num_controls=num_controls, base=GATES["x"])


@lru_cache(maxsize=None)
def pauli_rot_spec(pauli: str) -> GateSpec:
    """``exp(-i angle/2 P)``; letter ``i`` of ``pauli`` acts on local qubit ``i``."""
    if not pauli or any(c not in "IXYZ" for c in pauli):
        raise GateError(f"pauli_rot needs a non-empty string over 'IXYZ', got {pauli!r}")
    # no 2**k x 2**k generator here: engines read the string (GateSpec.pauli, pauli_action)
    return GateSpec(f"pauli_rot_{pauli}", len(pauli), 1, "rotation", "PauliEvolution", pauli=pauli)


def unitary_spec(matrix: np.ndarray, label: str = "unitary", atol: float = 1e-8) -> GateSpec:
    """A fixed gate from a user's matrix (little-endian), checked to be unitary."""
    m = np.asarray(matrix, dtype=complex)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2 or (m.shape[0] & (m.shape[0] - 1)):
        raise GateError(f"unitary matrix must be square with a power-of-two size >= 2, got shape {m.shape}")
    if not is_unitary(m, atol):
        err = np.abs(m.conj().T @ m - np.eye(len(m))).max()
        raise GateError(f"matrix is not unitary (max |U^dagger U - I| = {err:.2e} > {atol:g}); "
                        "pass a unitary matrix, e.g. orthonormalise it with scipy.linalg.polar")
    return _fixed(label, m, qiskit_name="unitary")


def get_spec(name: str) -> GateSpec:
    """The named gate's spec, or a clear error listing the known names."""
    try:
        return GATES[name]
    except KeyError:
        raise GateError(f"unknown gate {name!r}; known gates: {', '.join(sorted(GATES))}") from None
