"""``qdiff qaoa``: MaxCut with QAOA from the command line.

    qdiff qaoa                                          # 3-regular triangle-free, n = 12, p = 1..5
    qdiff qaoa --graph erdos-renyi --n 10 --p 3
    qdiff qaoa --graph edges.txt --p 4 --init ramp      # a file of "i j [weight]" lines

Depths ``1..P`` are optimised in turn, each started from INTERP of the previous optimum
(``--init ramp``: depth ``P`` only, from a linear ramp). Writes ``DIR/metrics.jsonl``,
``DIR/checkpoint.pt``, ``DIR/summary.json`` (``approximation_ratio``, ``expected_cut``,
``max_cut``, ``best_cut``, ``ratios`` per depth, ...) and ``DIR/expected_cut.png``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch

from qdiff.apps.rundir import METRICS, SUMMARY, write_json
from qdiff.apps.variational.qaoa_driver import QAOAProblem, erdos_renyi, interp, linear_ramp, load_graph, regular_graph
from qdiff.apps.variational.runner import (
    UsageError,
    add_run_options,
    check_run_options,
    default_out,
    guarded,
    open_run,
    plot_curves,
    train_loop,
)
from qdiff.apps.variational.vqe_driver import Minimizer
from qdiff.errors import QdiffError
from qdiff.execute import expval

RUN_KEYS = ("graph", "n", "degree", "edge_probability", "p", "init", "optimizer", "lr", "seed", "method")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``qaoa`` subcommand."""
    p = sub.add_parser("qaoa", help="QAOA for MaxCut",
                       description="Maximise the expected cut of a graph with depth-p QAOA (INTERP from p = 1).")
    p.add_argument("--graph", default="3-regular", help="3-regular (triangle-free, default), erdos-renyi, or an "
                                                        "edge-list FILE (lines 'i j [weight]')")
    p.add_argument("--n", type=int, default=12, help="nodes of a random graph (default 12)")
    p.add_argument("--degree", type=int, default=3, help="degree of a regular graph (default 3)")
    p.add_argument("--edge-probability", type=float, default=0.5, help="erdos-renyi edge probability")
    p.add_argument("--p", type=int, default=5, help="QAOA depth: depths 1..P are optimised in turn (default 5)")
    p.add_argument("--init", choices=("interp", "ramp"), default="interp", help="initialisation (default interp)")
    p.add_argument("--steps", type=int, default=100, help="maximum optimizer steps per depth (default 100)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs", help="default lbfgs")
    p.add_argument("--lr", type=float, default=None, help="learning rate (Adam 0.05, L-BFGS 1)")
    p.add_argument("--tol", type=float, default=1e-9, help="L-BFGS stops when 3 steps change <C> by less")
    p.add_argument("--shots", type=int, default=1000, help="samples for the most likely cut (default 1000)")
    p.add_argument("--method", default="auto", help="gradient engine (default auto: adjoint)")
    add_run_options(p, "qaoa")
    p.set_defaults(run=run)


def _graph(args: argparse.Namespace) -> tuple[Any, str]:
    if args.graph in ("3-regular", "regular"):
        if args.n < 4:
            raise UsageError(f"--n must be >= 4 for a regular graph, got {args.n}")
        return regular_graph(args.n, args.degree, seed=args.seed), f"{args.degree}-regular"
    if args.graph == "erdos-renyi":
        if args.n < 2 or not 0 < args.edge_probability <= 1:
            raise UsageError("erdos-renyi needs --n >= 2 and 0 < --edge-probability <= 1")
        return erdos_renyi(args.n, args.edge_probability, seed=args.seed), "erdos-renyi"
    if not os.path.isfile(args.graph):
        raise UsageError(f"--graph must be 3-regular, erdos-renyi or an edge-list file; {args.graph!r} is none")
    try:
        return load_graph(args.graph), os.path.basename(args.graph)
    except (ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"cannot read the edge list {args.graph!r}: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    check_run_options(args)
    if args.p < 1:
        raise UsageError(f"--p must be >= 1 (QAOA layers), got {args.p}")
    if args.shots < 1:
        raise UsageError(f"--shots must be positive, got {args.shots}")
    graph, label = _graph(args)
    try:
        problem = QAOAProblem(graph)
    except QdiffError as exc:
        raise UsageError(str(exc)) from None
    if problem.num_nodes > 24:
        raise UsageError(f"{problem.num_nodes} nodes: the brute-force maximum cut and the statevector are limited "
                         f"to 24 nodes")
    config = {"graph": label if label != os.path.basename(args.graph) else os.path.abspath(args.graph),
              "n": problem.num_nodes, "degree": args.degree, "edge_probability": args.edge_probability, "p": args.p,
              "init": args.init, "optimizer": args.optimizer, "lr": args.lr, "seed": args.seed, "method": args.method}
    out, checkpoint = open_run(args, default_out("qaoa", f"{label}-n{problem.num_nodes}-p{args.p}"), config)
    depths = [args.p] if args.init == "ramp" else list(range(1, args.p + 1))
    stage = {"k": checkpoint["stage"] if checkpoint else 0, "minimizer": None, "history": [], "results": []}
    if checkpoint is not None:
        stage["results"] = checkpoint["trainer"]["results"]

    def minimizer_for(k: int, saved: dict | None = None) -> Minimizer:
        p = depths[k]
        circuit = problem.circuit(p)
        if k == 0:
            start = linear_ramp(p) if args.init == "ramp" else problem.grid_start()
        else:
            start = interp(torch.tensor(stage["results"][-1]["values"], dtype=torch.float64))
        m = Minimizer(lambda v: -expval(circuit, problem.cost, v, method=args.method), start, args.optimizer, args.lr)
        if saved is not None:
            m.load_state_dict(saved)
        return m

    def current(k: int) -> Minimizer:
        if stage["minimizer"] is None or stage["k"] != k:
            saved = None
            if checkpoint is not None and checkpoint["stage"] == k and checkpoint["trainer"]["minimizer"] is not None:
                saved = checkpoint["trainer"]["minimizer"]
                stage["history"] = list(checkpoint["trainer"]["history"])
            else:
                stage["history"] = []
            stage["minimizer"], stage["k"] = minimizer_for(k, saved), k
        return stage["minimizer"]

    def step(k: int) -> dict[str, Any]:
        m = current(k)
        cut = -m.step()
        stage["history"].append(cut)
        return {"p": depths[k], "expected_cut": cut, "approximation_ratio": cut / problem.max_cut}

    def done(k: int) -> bool:
        m, h = current(k), stage["history"]
        finished = m.step_count >= args.steps or (args.optimizer == "lbfgs" and len(h) > 3
                                                  and abs(h[-1] - h[-4]) < args.tol)
        if finished:
            r = problem.result(depths[k], m.values, m.step_count, h, args.shots, args.seed)
            stage["results"].append({"p": r.p, "expected_cut": r.expected_cut, "approximation_ratio":
                                     r.approximation_ratio, "best_cut": r.best_sample, "sample_cut": r.sample_cut,
                                     "probability_optimal": r.probability_optimal, "values": r.values.tolist(),
                                     "steps": r.steps})
            stage["minimizer"] = None
        return finished

    def state() -> dict[str, Any]:
        m = stage["minimizer"]
        return {"results": stage["results"], "minimizer": None if m is None else m.state_dict(),
                "history": stage["history"]}

    result = train_loop(out=out, args=args, config=config, stages=list(range(len(depths))), step=step, done=done,
                        state=state, stage_index=stage["k"], seconds=float(checkpoint["seconds"]) if checkpoint else 0.0,
                        resumed_step=checkpoint["step"] if checkpoint else None, desc="qaoa")
    if isinstance(result, int):
        return result
    seconds, total = result
    final = stage["results"][-1]
    summary = {"graph": config["graph"], "num_nodes": problem.num_nodes, "num_edges": len(problem.edges),
               "p": final["p"], "approximation_ratio": final["approximation_ratio"],
               "expected_cut": final["expected_cut"], "max_cut": problem.max_cut, "best_cut": final["best_cut"],
               "sample_cut": final["sample_cut"], "probability_optimal": final["probability_optimal"],
               "ratios": {str(r["p"]): r["approximation_ratio"] for r in stage["results"]},
               "depths": stage["results"], "steps": total, "seconds": round(seconds, 3),
               "edges": [[i, j, w] for i, j, w in problem.edges]}
    write_json(out / SUMMARY, summary)
    plots = []
    if args.plots:
        import json

        metrics = [json.loads(l) for l in (out / METRICS).read_text().splitlines() if l.strip()]
        plots = plot_curves(out, metrics, "approximation_ratio", None, "<C> / max cut", "expected_cut")
    print(f"\nQAOA MaxCut on {config['graph']}: {problem.num_nodes} nodes, {len(problem.edges)} edges, "
          f"max cut {problem.max_cut:g} (brute force)")
    for r in stage["results"]:
        print(f"  p = {r['p']}:  <C> = {r['expected_cut']:.4f}   ratio {r['approximation_ratio']:.4f}   "
              f"P(optimal) {r['probability_optimal']:.3f}   most likely cut {r['best_cut']} ({r['sample_cut']:g})  "
              f"[{r['steps']} steps]")
    print(f"  time      {seconds:.1f} s")
    print(f"  output    {out}/ (summary.json, metrics.jsonl, checkpoint.pt"
          + (", " + ", ".join(p.name for p in plots) if plots else "") + ")")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``qdiff qaoa``; returns the exit status."""
    return guarded("qaoa", lambda: _run(args))
