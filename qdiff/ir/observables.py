"""Pauli observables: ``X(i)``, ``Y(i)``, ``Z(i)``, ``I()`` and sums of Pauli strings.

>>> H = 0.5 * Z(0) @ Z(1) - X(0) + 2 * I()
>>> H.num_qubits
2
>>> sorted(PauliSum.from_list([("XZ", 0.5)]).to_list())   # Qiskit label: rightmost letter is qubit 0
[('XZ', (0.5+0j))]

Products use ``@`` and follow the Pauli algebra (``X(0) @ Y(0) == 1j * Z(0)``). A sum with
complex coefficients is allowed while building, but is rejected (:class:`ObservableError`) where
an expectation value is asked for unless it is Hermitian.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from qdiff.errors import ObservableError

T = TypeVar("T")

PauliKey = tuple[tuple[int, str], ...]
"""A Pauli string as ``((qubit, letter), ...)`` sorted by qubit, identity letters dropped."""

_PRODUCT = {  # (a, b) -> (phase, letter) with a @ b = phase * letter
    ("X", "X"): (1, "I"), ("Y", "Y"): (1, "I"), ("Z", "Z"): (1, "I"),
    ("X", "Y"): (1j, "Z"), ("Y", "Z"): (1j, "X"), ("Z", "X"): (1j, "Y"),
    ("Y", "X"): (-1j, "Z"), ("Z", "Y"): (-1j, "X"), ("X", "Z"): (-1j, "Y"),
}


def _multiply(a: PauliKey, b: PauliKey) -> tuple[complex, PauliKey]:
    letters = dict(a)
    phase: complex = 1
    for q, l in b:
        if q in letters:
            p, new = _PRODUCT[(letters[q], l)]
            phase *= p
            if new == "I":
                del letters[q]
            else:
                letters[q] = new
        else:
            letters[q] = l
    return phase, tuple(sorted(letters.items()))


class PauliSum:
    """A linear combination of Pauli strings, ``sum_k c_k P_k``.

    Args:
        terms: mapping or iterable of ``(PauliKey, coefficient)``.
        num_qubits: optional minimum width (defaults to the highest qubit used plus one).
    """

    __slots__ = ("_terms", "_num_qubits", "_memo")

    def __init__(self, terms: dict[PauliKey, complex] | Iterable[tuple[PauliKey, complex]] = (),
                 num_qubits: int | None = None):
        items = terms.items() if isinstance(terms, dict) else terms
        merged: dict[PauliKey, complex] = {}
        for key, c in items:
            if not isinstance(c, numbers.Number):
                raise ObservableError(f"Pauli coefficients must be numbers, got {c!r}")
            merged[key] = merged.get(key, 0) + complex(c)
        self._terms = {k: v for k, v in merged.items() if v != 0}
        used = max((q for key in self._terms for q, _ in key), default=-1) + 1
        self._num_qubits = max(used, num_qubits or 0)
        self._memo: dict[str, object] = {}  # derived data of this (immutable) sum, see derived()

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_list(cls, pairs: Sequence[tuple[str, complex]], num_qubits: int | None = None) -> PauliSum:
        """From Qiskit-style ``[(label, coeff), ...]``; the rightmost letter acts on qubit 0."""
        terms: list[tuple[PauliKey, complex]] = []
        width = 0
        for label, coeff in pairs:
            label = label.upper()
            if any(c not in "IXYZ" for c in label):
                raise ObservableError(f"Pauli label {label!r} may only contain I, X, Y, Z")
            width = max(width, len(label))
            key = tuple((q, l) for q, l in enumerate(reversed(label)) if l != "I")
            terms.append((key, coeff))
        return cls(terms, num_qubits=max(width, num_qubits or 0))

    # -- inspection ----------------------------------------------------------------------------
    @property
    def num_qubits(self) -> int:
        """Width: one more than the highest qubit acted on (or the width asked for)."""
        return self._num_qubits

    @property
    def terms(self) -> dict[PauliKey, complex]:
        """``{PauliKey: coefficient}``, a copy."""
        return dict(self._terms)

    def __iter__(self) -> Iterator[tuple[PauliKey, complex]]:
        return iter(self._terms.items())

    def __len__(self) -> int:
        return len(self._terms)

    def derived(self, key: str, build: Callable[[PauliSum], T]) -> T:
        """``build(self)``, computed once per key (a sum never changes after construction), e.g. the
        simulator's grouping of the terms, which every expectation value needs."""
        if key not in self._memo:
            self._memo[key] = build(self)
        return self._memo[key]  # type: ignore[return-value]

    def is_hermitian(self, atol: float = 1e-12) -> bool:
        """True when every coefficient is real (Pauli strings are Hermitian and independent)."""
        return all(abs(c.imag) <= atol for c in self._terms.values())

    def check_hermitian(self) -> None:
        """Raise :class:`ObservableError` unless the sum is Hermitian."""
        bad = self.derived("complex_terms", lambda o: [(o._label(k), c) for k, c in o._terms.items()
                                                       if abs(c.imag) > 1e-12])  # once per sum
        if bad:
            raise ObservableError(
                f"observable is not Hermitian: terms {bad[:3]} have complex coefficients; "
                "expectation values need real coefficients (use (O + O.adjoint()) / 2 to symmetrise)")

    def adjoint(self) -> PauliSum:
        """The Hermitian conjugate (coefficients conjugated)."""
        return PauliSum({k: c.conjugate() for k, c in self._terms.items()}, self._num_qubits)

    def to_list(self, num_qubits: int | None = None) -> list[tuple[str, complex]]:
        """Qiskit-style ``[(label, coeff)]`` (rightmost letter on qubit 0)."""
        n = max(self._num_qubits, num_qubits or 0)
        return [(self._label(k, n), c) for k, c in self._terms.items()]

    def _label(self, key: PauliKey, n: int | None = None) -> str:
        n = self._num_qubits if n is None else n
        letters = ["I"] * n
        for q, l in key:
            letters[q] = l
        return "".join(reversed(letters)) or "I"

    def to_matrix(self, sparse: bool = False, num_qubits: int | None = None):  # type: ignore[no-untyped-def]
        """The ``2**n x 2**n`` matrix (little-endian); a scipy CSR matrix when ``sparse``."""
        n = max(self._num_qubits, num_qubits or 0)
        dim = 2**n
        idx = np.arange(dim)
        rows, cols, vals = [], [], []
        for key, c in self._terms.items():
            xmask = sum(1 << q for q, l in key if l in "XY")
            zmask = sum(1 << q for q, l in key if l in "ZY")
            ny = sum(1 for _, l in key if l == "Y")
            parity = np.zeros(dim, dtype=np.int64)
            for q in range(n):
                if zmask >> q & 1:
                    parity ^= (idx >> q) & 1
            # P|j> = i^ny (-1)^{|j & z|} |j ^ x>
            rows.append(idx ^ xmask)
            cols.append(idx)
            vals.append(c * (1j**ny) * (1 - 2 * parity))
        if not rows:
            rows, cols, vals = [idx], [idx], [np.zeros(dim, dtype=complex)]
        import scipy.sparse

        m = scipy.sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                    shape=(dim, dim)).tocsr()
        return m if sparse else m.toarray()

    # -- algebra ----------------------------------------------------------------------------------
    def __add__(self, other: object) -> PauliSum:
        if isinstance(other, numbers.Number):
            other = PauliSum({(): complex(other)})
        if not isinstance(other, PauliSum):
            return NotImplemented
        terms = dict(self._terms)
        for k, c in other._terms.items():
            terms[k] = terms.get(k, 0) + c
        return PauliSum(terms, max(self._num_qubits, other._num_qubits))

    __radd__ = __add__

    def __neg__(self) -> PauliSum:
        return PauliSum({k: -c for k, c in self._terms.items()}, self._num_qubits)

    def __sub__(self, other: object) -> PauliSum:
        if isinstance(other, (numbers.Number, PauliSum)):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other: object) -> PauliSum:
        return (-self) + other

    def __mul__(self, other: object) -> PauliSum:
        if isinstance(other, PauliSum):
            raise ObservableError("use @ for products of observables; * multiplies by numbers")
        if not isinstance(other, numbers.Number):
            return NotImplemented
        return PauliSum({k: c * complex(other) for k, c in self._terms.items()}, self._num_qubits)

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> PauliSum:
        if not isinstance(other, numbers.Number):
            return NotImplemented
        return self * (1 / complex(other))

    def __matmul__(self, other: object) -> PauliSum:
        if not isinstance(other, PauliSum):
            return NotImplemented
        terms: dict[PauliKey, complex] = {}
        for ka, ca in self._terms.items():
            for kb, cb in other._terms.items():
                phase, key = _multiply(ka, kb)
                terms[key] = terms.get(key, 0) + phase * ca * cb
        return PauliSum(terms, max(self._num_qubits, other._num_qubits))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PauliSum):
            return NotImplemented
        keys = set(self._terms) | set(other._terms)
        return all(abs(self._terms.get(k, 0) - other._terms.get(k, 0)) < 1e-12 for k in keys)

    def __hash__(self) -> int:
        return hash(frozenset((k, round(c.real, 12), round(c.imag, 12)) for k, c in self._terms.items()))

    def __repr__(self) -> str:
        if not self._terms:
            return "PauliSum(0)"
        parts = []
        for key, c in self._terms.items():
            coeff = f"{c.real:g}" if c.imag == 0 else f"({c:g})"
            ops = " ".join(f"{l}{q}" for q, l in key) or "I"
            parts.append(f"{coeff} * {ops}")
        return " + ".join(parts).replace("+ -", "- ")


def _single(letter: str, qubit: int) -> PauliSum:
    if isinstance(qubit, bool) or not isinstance(qubit, numbers.Integral) or qubit < 0:
        raise ObservableError(f"{letter}(qubit): qubit must be a non-negative int, got {qubit!r}")
    return PauliSum({((int(qubit), letter),): 1.0})


def X(qubit: int) -> PauliSum:
    """Pauli X on ``qubit``."""
    return _single("X", qubit)


def Y(qubit: int) -> PauliSum:
    """Pauli Y on ``qubit``."""
    return _single("Y", qubit)


def Z(qubit: int) -> PauliSum:
    """Pauli Z on ``qubit``."""
    return _single("Z", qubit)


def I() -> PauliSum:  # noqa: E743 - the conventional name
    """The identity (on no particular qubit)."""
    return PauliSum({(): 1.0})


def observables_for(observables: PauliSum | Sequence[PauliSum], num_qubits: int) -> tuple[list[PauliSum], bool]:
    """Validate one PauliSum or a list of them for a circuit of ``num_qubits``.

    Returns ``(observables as a list, whether a single one was given)``.

    Raises:
        ObservableError: an empty list, a non-PauliSum, a term beyond the circuit's qubits, or a
            non-Hermitian sum.
    """
    single = isinstance(observables, PauliSum)
    obs = [observables] if single else list(observables)
    if not obs:
        raise ObservableError("no observables given; pass a PauliSum or a non-empty list of them")
    for o in obs:
        if not isinstance(o, PauliSum):
            raise ObservableError(f"observables must be PauliSum (build with qdiff.X/Y/Z), got {type(o).__name__}")
        if o.num_qubits > num_qubits:
            raise ObservableError(f"observable acts on qubit {o.num_qubits - 1} but the circuit has only "
                                  f"{num_qubits} qubit(s)")
        o.check_hermitian()
    return obs, single
