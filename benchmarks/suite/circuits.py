"""The benchmark circuits and observables, written once as plain data every framework translates.

A :class:`Spec` is a list of gates, each with an optional angle ``coeff * theta[param]``; an
:class:`Observable` is a real sum of Pauli words plus a constant. qdiff and each peer build their
own circuit from the same spec (``impl_*.py``), so every framework times the same gates, in the
same order, and the cross-checks compare like with like.

Conventions (qdiff's, which every translation must reproduce): rotations are
``exp(-i angle P / 2)``, ``rzz`` is ``exp(-i angle Z Z / 2)``, qubit 0 is the least significant bit
of a basis index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ROTATIONS = ("rx", "ry", "rz", "rzz")
FIXED = ("h", "cx")


@dataclass(frozen=True)
class Gate:
    """One gate: ``name`` in ROTATIONS or FIXED, its qubits, and for a rotation the angle
    ``coeff * theta[param]``."""

    name: str
    qubits: tuple[int, ...]
    param: int | None = None
    coeff: float = 1.0


@dataclass(frozen=True)
class Spec:
    """A parametrized circuit as data: ``num_parameters`` values ``theta`` drive the rotations."""

    num_qubits: int
    num_parameters: int
    gates: tuple[Gate, ...]

    @property
    def rotations(self) -> list[Gate]:
        """The parametrized gates, in order (one independent angle each for per-gate peers)."""
        return [g for g in self.gates if g.param is not None]

    def angles(self, theta: np.ndarray) -> np.ndarray:
        """Every rotation's angle, shape ``(*batch, num_rotations)``, from ``theta (*batch, P)``."""
        rot = self.rotations
        idx = np.array([g.param for g in rot], dtype=int)
        coeff = np.array([g.coeff for g in rot])
        return np.asarray(theta)[..., idx] * coeff

    def chain(self, angle_grad: np.ndarray) -> np.ndarray:
        """Gradient over ``theta`` from the gradient over every rotation's own angle (chain rule)."""
        out = np.zeros(angle_grad.shape[:-1] + (self.num_parameters,))
        for k, g in enumerate(self.rotations):
            out[..., g.param] += g.coeff * angle_grad[..., k]
        return out


@dataclass(frozen=True)
class Observable:
    """``constant + sum_k coeff_k P_k``; each word is ``((qubit, "X"|"Y"|"Z"), ...)``."""

    num_qubits: int
    terms: tuple[tuple[float, tuple[tuple[int, str], ...]], ...]
    constant: float = 0.0

    def qiskit_labels(self) -> list[tuple[str, float]]:
        """``[(label, coeff)]`` in Qiskit's order (rightmost letter on qubit 0)."""
        out = []
        for coeff, word in self.terms:
            letters = ["I"] * self.num_qubits
            for q, p in word:
                letters[self.num_qubits - 1 - q] = p
            out.append(("".join(letters), coeff))
        return out


@dataclass(frozen=True)
class BornTarget:
    """A Born machine's data: target distribution ``(2**n,)`` and MMD kernel ``(2**n, 2**n)``."""

    target: np.ndarray
    kernel: np.ndarray = field(repr=False)


# ------------------------------------------------------------------------ hardware-efficient
def hea(n: int, layers: int = 4) -> Spec:
    """``layers`` x (ry, rz on every qubit, then a cx chain); parameter of layer l, qubit q, gate
    g is ``2 (l n + q) + g``."""
    gates: list[Gate] = []
    k = 0
    for _ in range(layers):
        for q in range(n):
            gates += [Gate("ry", (q,), k), Gate("rz", (q,), k + 1)]
            k += 2
        gates += [Gate("cx", (q, q + 1)) for q in range(n - 1)]
    return Spec(n, k, tuple(gates))


def hea_hamiltonian(n: int) -> Observable:
    """H = sum_i Z_i Z_{i+1} (open chain) + sum_i X_i."""
    terms = [(1.0, ((i, "Z"), (i + 1, "Z"))) for i in range(n - 1)]
    terms += [(1.0, ((i, "X"),)) for i in range(n)]
    return Observable(n, tuple(terms))


# ------------------------------------------------------------------------------ Born machine
def qcbm(n: int, depth: int) -> Spec:
    """The Born machine of the reference paper: rx rz; then (depth - 1) x (cx line, rz rx rz);
    then cx line, rz rx; ``(3 depth + 1) n`` angles, one per rotation."""
    line = [Gate("cx", (q, q + 1)) for q in range(n - 1)]
    blocks = [("rx", "rz")] + [("rz", "rx", "rz")] * (depth - 1) + [("rz", "rx")]
    gates: list[Gate] = []
    k = 0
    for b, names in enumerate(blocks):
        if b:
            gates += line
        for q in range(n):
            for name in names:
                gates.append(Gate(name, (q,), k))
                k += 1
    return Spec(n, k, tuple(gates))


def bars_and_stripes(rows: int, cols: int) -> list[int]:
    """Valid images as integers: pixel k (row-major) is bit k (qubit k, little-endian)."""
    images = set()
    for mask in range(2**rows):
        images.add(sum(1 << (r * cols + c) for r in range(rows) if mask >> r & 1 for c in range(cols)))
    for mask in range(2**cols):
        images.add(sum(1 << (r * cols + c) for c in range(cols) if mask >> c & 1 for r in range(rows)))
    return sorted(images)


def born_target(rows: int = 3, cols: int = 3, sigmas: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)) -> BornTarget:
    """Uniform over bars-and-stripes; K(x, y) = mean_s exp(-d_Hamming(x, y) / (2 s))."""
    n = rows * cols
    target = np.zeros(2**n)
    images = bars_and_stripes(rows, cols)
    target[images] = 1 / len(images)
    idx = np.arange(2**n)
    x = idx[:, None] ^ idx[None, :]
    hamming = sum((x >> b) & 1 for b in range(n))
    kernel = np.mean([np.exp(-hamming / (2 * s)) for s in sigmas], axis=0)
    return BornTarget(target, kernel)


def mmd_loss_grad(probs: np.ndarray, born: BornTarget) -> tuple[float, np.ndarray]:
    """MMD ``d^T K d`` with ``d = probs - target`` and its gradient ``2 K d`` over the probabilities."""
    d = probs - born.target
    kd = born.kernel @ d
    return float(d @ kd), 2 * kd


# ---------------------------------------------------------------------------------- QAOA
def regular_graph_edges(n: int, degree: int = 3, seed: int = 0) -> list[tuple[int, int]]:
    """Edges of a random ``degree``-regular graph on ``n`` nodes (networkx, seeded)."""
    import networkx as nx

    return sorted((min(a, b), max(a, b)) for a, b in nx.random_regular_graph(degree, n, seed=seed).edges)


def qaoa(n: int, p: int, edges: list[tuple[int, int]]) -> Spec:
    """MaxCut QAOA as qdiff's ``qaoa_circuit``: h on every qubit, then p x (rzz(-gamma_l) on every
    edge, rx(2 beta_l) on every qubit); parameters ``gamma_0, beta_0, gamma_1, ...``."""
    gates = [Gate("h", (q,)) for q in range(n)]
    for layer in range(p):
        gates += [Gate("rzz", (i, j), 2 * layer, -1.0) for i, j in edges]
        gates += [Gate("rx", (q,), 2 * layer + 1, 2.0) for q in range(n)]
    return Spec(n, 2 * p, tuple(gates))


def maxcut_observable(n: int, edges: list[tuple[int, int]]) -> Observable:
    """The cut operator ``sum_(ij) (1 - Z_i Z_j) / 2``."""
    return Observable(n, tuple((-0.5, ((i, "Z"), (j, "Z"))) for i, j in edges), constant=0.5 * len(edges))
