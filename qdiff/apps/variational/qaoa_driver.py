"""QAOA for MaxCut: graphs, brute-force optimum, initialisations (linear ramp, INTERP of Zhou et
al. 2020) and the driver, which maximises the expected cut ``<C>`` with L-BFGS (or Adam) and
reports the approximation ratio ``<C> / max cut`` and the most likely cut among samples.

>>> import networkx as nx
>>> result = qaoa(nx.cycle_graph(4), p=1)
>>> round(result.max_cut), round(result.approximation_ratio, 3)      # ring of 4: p=1 reaches 3/4
(4, 0.75)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from qdiff.errors import GateError, ParameterError
from qdiff.execute import expval, probs, sample

from qdiff.apps.variational.ansatz import qaoa_circuit
from qdiff.apps.variational.hamiltonians import diagonal, graph_edges, maxcut
from qdiff.apps.variational.vqe_driver import Minimizer

RAMP_DT = 0.75


def regular_graph(n: int, degree: int = 3, seed: int = 0, triangle_free: bool = True, tries: int = 1000) -> Any:
    """A random ``degree``-regular graph on ``n`` nodes (networkx), without triangles by default."""
    import networkx as nx

    if n * degree % 2 or degree >= n:
        raise ParameterError(f"no {degree}-regular graph on {n} nodes (need n * degree even and degree < n)")
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        g = nx.random_regular_graph(degree, n, seed=int(rng.integers(2**31)))
        if not triangle_free or sum(nx.triangles(g).values()) == 0:
            return g
    raise ParameterError(f"no triangle-free {degree}-regular graph on {n} nodes found in {tries} tries")


def erdos_renyi(n: int, edge_probability: float = 0.5, seed: int = 0) -> Any:
    """A connected G(n, p) random graph (resampled until connected)."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    for _ in range(1000):
        g = nx.gnp_random_graph(n, edge_probability, seed=int(rng.integers(2**31)))
        if g.number_of_edges() and nx.is_connected(g):
            return g
    raise ParameterError(f"no connected G({n}, {edge_probability}) graph found; raise the edge probability")


def load_graph(path: str) -> Any:
    """A graph from an edge-list file: lines ``i j`` or ``i j weight`` (``#`` comments)."""
    import networkx as nx

    g = nx.read_weighted_edgelist(path, nodetype=int) if _has_weights(path) else nx.read_edgelist(path, nodetype=int)
    return nx.convert_node_labels_to_integers(g, ordering="sorted")


def _has_weights(path: str) -> bool:
    with open(path) as f:
        rows = [line.split("#")[0].split() for line in f]
    return any(len(r) >= 3 for r in rows if r)


def brute_force_maxcut(graph: Any) -> tuple[float, int]:
    """``(max cut weight, one optimal bitstring as an int)`` by enumerating all ``2**n`` cuts."""
    n, _ = graph_edges(graph)
    if n > 26:
        raise ParameterError(f"brute-force MaxCut enumerates 2**n cuts; n = {n} is too large")
    cuts = diagonal(maxcut(graph), n)
    best = int(np.argmax(cuts))
    return float(cuts[best]), best


def linear_ramp(p: int, dt: float = RAMP_DT) -> torch.Tensor:
    """Linear-ramp (annealing-like) angles ``(2p,)`` ordered ``gamma_0, beta_0, gamma_1, ...``:
    ``gamma_i = (i + 1/2) dt / p``, ``beta_i = (1 - (i + 1/2) / p) dt``."""
    if p < 1:
        raise GateError(f"QAOA needs p >= 1 layers, got {p}")
    f = (torch.arange(p, dtype=torch.float64) + 0.5) / p
    return torch.stack([f * dt, (1 - f) * dt], dim=1).reshape(-1)


def interp(values: torch.Tensor) -> torch.Tensor:
    """INTERP: optimal angles at depth ``p`` ``(2p,)`` -> initial angles at ``p + 1`` ``(2p+2,)``:
    ``x'_i = (i / p) x_{i-1} + ((p - i) / p) x_i`` for ``i = 0..p`` (``x_{-1} = x_p = 0``)."""
    v = values.detach().reshape(-1, 2)
    p = v.shape[0]
    padded = torch.cat([torch.zeros(1, 2, dtype=v.dtype), v, torch.zeros(1, 2, dtype=v.dtype)])
    i = torch.arange(p + 1, dtype=v.dtype)[:, None]
    return ((i / p) * padded[:-1] + ((p - i) / p) * padded[1:]).reshape(-1)


@dataclass
class QAOAResult:
    """Outcome of :func:`qaoa`: ``expected_cut = <C>``, ``max_cut`` (brute force),
    ``approximation_ratio = expected_cut / max_cut``, the most frequent ``best_sample`` cut among
    ``shots`` samples (bitstring, qubit 0 rightmost) and its ``sample_cut`` value,
    ``probability_optimal`` (of measuring an optimal cut), optimised ``values``."""

    p: int
    expected_cut: float
    max_cut: float
    approximation_ratio: float
    best_sample: str
    sample_cut: float
    probability_optimal: float
    values: torch.Tensor
    steps: int
    history: list[float] = field(default_factory=list)


class QAOAProblem:
    """A MaxCut instance with everything the driver needs: the cut operator, cut values of every
    bitstring and the brute-force optimum. Validation (edges, weights) happens here."""

    def __init__(self, graph: Any):
        self.graph = graph
        self.num_nodes, self.edges = graph_edges(graph)
        self.cost = maxcut(graph)
        self.cuts = diagonal(self.cost, self.num_nodes)
        self.max_cut = float(self.cuts.max())

    def circuit(self, p: int):  # type: ignore[no-untyped-def]
        """The depth-``p`` QAOA circuit."""
        return qaoa_circuit(self.graph, p)

    def grid_start(self, points: int = 12) -> torch.Tensor:
        """The best ``(gamma, beta)`` for p = 1 on a ``points x points`` grid, evaluated as one batch."""
        g = torch.linspace(0.05, np.pi / 2, points, dtype=torch.float64)
        b = torch.linspace(0.05, np.pi / 2, points, dtype=torch.float64)
        grid = torch.cartesian_prod(g, b)
        with torch.no_grad():
            e = expval(self.circuit(1), self.cost, grid)
        return grid[int(torch.argmax(e))]

    def result(self, p: int, values: torch.Tensor, steps: int, history: list[float], shots: int,
               seed: int) -> QAOAResult:
        """Exact expected cut and sampled best cut for optimised ``values``."""
        circuit = self.circuit(p)
        with torch.no_grad():
            pr = probs(circuit, values.detach()).numpy()
        expected = float(pr @ self.cuts)
        outcomes = sample(circuit, values.detach(), shots, seed=seed).numpy()
        freq = np.bincount(outcomes, minlength=len(self.cuts))
        best = int(np.argmax(freq))
        optimal = float(pr[np.isclose(self.cuts, self.max_cut)].sum())
        return QAOAResult(p, expected, self.max_cut, expected / self.max_cut, format(best, f"0{self.num_nodes}b"),
                          float(self.cuts[best]), optimal, values.detach().clone(), steps, history)


def optimize_layer(problem: QAOAProblem, p: int, start: torch.Tensor, *, steps: int = 100,
                   optimizer: str = "lbfgs", lr: float | None = None, backend: object = None,
                   method: str = "auto", tol: float = 1e-10) -> tuple[torch.Tensor, int, list[float]]:
    """Maximise ``<C>`` at depth ``p`` from ``start`` ``(2p,)``; returns ``(values, steps, history)``
    with history the expected cut per step."""
    circuit = problem.circuit(p)

    def objective(v: torch.Tensor) -> torch.Tensor:
        return -expval(circuit, problem.cost, v, method=method, backend=backend)

    minimizer = Minimizer(objective, start, optimizer, lr)
    history: list[float] = []
    for _ in range(steps):
        history.append(-minimizer.step())
        if optimizer == "lbfgs" and len(history) > 3 and abs(history[-1] - history[-4]) < tol:
            break
    return minimizer.values.detach(), minimizer.step_count, history


def qaoa(graph: Any, p: int = 1, *, init: str = "interp", steps: int = 100, optimizer: str = "lbfgs",
         lr: float | None = None, backend: object = None, method: str = "auto", shots: int = 1000,
         seed: int = 0) -> QAOAResult:
    """Optimise depth-``p`` QAOA for MaxCut on ``graph``.

    Args:
        graph: networkx graph on nodes ``0..N-1`` (``weight`` edge attributes for weighted MaxCut).
        p: layers (>= 1).
        init: ``"interp"`` (optimise p = 1 from a grid, then each depth from INTERP of the previous
            one), ``"ramp"`` (linear ramp at depth p) or ``"grid"`` (p = 1 only).
        steps: optimizer steps per depth; optimizer, lr, backend, method: see :func:`vqe`.
        shots: samples for the most likely cut; seed: their seed.
    Raises:
        GateError: ``p < 1``; ObservableError: a graph without edges -- before any optimisation.
    """
    return qaoa_sweep(graph, p, init=init, steps=steps, optimizer=optimizer, lr=lr, backend=backend,
                      method=method, shots=shots, seed=seed)[-1]


def qaoa_sweep(graph: Any, p_max: int, *, init: str = "interp", steps: int = 100, optimizer: str = "lbfgs",
               lr: float | None = None, backend: object = None, method: str = "auto", shots: int = 1000,
               seed: int = 0) -> list[QAOAResult]:
    """Results for ``p = 1..p_max`` (INTERP chain), or only ``p_max`` with ``init="ramp"``."""
    if isinstance(p_max, bool) or not isinstance(p_max, int) or p_max < 1:
        raise GateError(f"QAOA needs p >= 1 layers, got {p_max!r}")
    if init not in ("interp", "ramp", "grid"):
        raise ParameterError(f"unknown init {init!r}; use 'interp', 'ramp' or 'grid'")
    if init == "grid" and p_max != 1:
        raise ParameterError("init='grid' is for p = 1; use 'interp' for deeper circuits")
    problem = QAOAProblem(graph)
    depths = [p_max] if init == "ramp" else list(range(1, p_max + 1))
    results: list[QAOAResult] = []
    start = linear_ramp(p_max) if init == "ramp" else problem.grid_start()
    for p in depths:
        values, n_steps, history = optimize_layer(problem, p, start, steps=steps, optimizer=optimizer, lr=lr,
                                                  backend=backend, method=method)
        results.append(problem.result(p, values, n_steps, history, shots, seed))
        start = interp(values)
    return results
