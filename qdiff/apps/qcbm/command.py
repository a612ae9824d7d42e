"""``qdiff qcbm``: train a Born machine from the command line.

    qdiff qcbm --dataset bas3x3 --depth 10 --steps 500 --optimizer lbfgs --out runs/qcbm

Writes ``DIR/metrics.jsonl``, ``DIR/checkpoint.pt`` (atomically; ``--resume`` continues it),
``DIR/summary.json`` and plots (with the ``plot`` extra); see :mod:`qdiff.apps.rundir`.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qdiff.apps.loop import UsageError, add_run_options, guarded, shots_option, train_loop
from qdiff.apps.qcbm.circuit import born_circuit, embed_weights, entangler_for
from qdiff.apps.qcbm.data import Distribution, dataset
from qdiff.apps.qcbm.model import BornMachine
from qdiff.apps.qcbm.plots import plotting_available, save_plots
from qdiff.apps.qcbm.train import DEFAULT_SIGMAS, OPTIMIZERS, Trainer, growth_stages, model_samples
from qdiff.apps.rundir import SUMMARY, MetricsLog, RunDirError, open_run, save_checkpoint, write_json

# the settings that define a run: a resumed run must agree on all of them
RUN_KEYS = ("dataset", "depth", "entangler", "edges", "optimizer", "lr", "shots", "sigmas", "normalize_kernel",
            "seed", "backend", "loss", "grow")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``qcbm`` subcommand."""
    p = sub.add_parser("qcbm", help="train a quantum circuit Born machine",
                       description="Train a quantum circuit Born machine (Liu & Wang 2018) on a data set.")
    p.add_argument("--dataset", default="bas3x3", help="bas<rows>x<cols>, gaussian<bits> or mixture<bits> "
                                                      "(default bas3x3)")
    p.add_argument("--depth", type=int, default=10, help="entangling layers (default 10)")
    p.add_argument("--steps", type=int, default=500, help="optimizer steps (default 500)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs", help="default lbfgs (exact) / use adam "
                                                                          "for --shots")
    p.add_argument("--lr", type=float, default=None, help="learning rate (Adam default 0.1, L-BFGS 1)")
    p.add_argument("--shots", default="exact", help="'exact' (default) or samples per distribution for the "
                                                    "sampled MMD gradient")
    p.add_argument("--entangler", default="chow-liu", choices=("chow-liu", "line", "ring"),
                   help="cx graph (default: the data's Chow-Liu tree)")
    p.add_argument("--grow", action=argparse.BooleanOptionalAction, default=False,
                   help="grow the circuit during training: 40%% and 70%% of the depth for 20%% and 30%% of the "
                        "steps, then full depth (default off: full depth from the start, as in the paper)")
    p.add_argument("--loss", default="mmd", choices=("mmd", "kl"), help="training loss (default mmd)")
    p.add_argument("--sigmas", default=",".join(f"{s:g}" for s in DEFAULT_SIGMAS),
                   help="MMD kernel bandwidths, comma separated (default 0.5,1,2,4)")
    p.add_argument("--no-normalize-kernel", dest="normalize_kernel", action="store_false",
                   help="drop the 1/c in front of the kernel sum (as the paper's code)")
    p.add_argument("--qubits", type=int, default=None, help="circuit width (default: the data set's bits)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial angles and the sampling")
    p.add_argument("--backend", default="torch", help="torch (default), aer, or fake:<name> (e.g. fake:manila)")
    add_run_options(p, "runs/qcbm-<dataset>-<time>", checkpoint_every=50)
    p.add_argument("--eval-every", type=int, default=10, help="exact metrics every N steps (default 10)")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """Validated run settings; raises :class:`UsageError` before any work."""
    try:
        data = dataset(args.dataset)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.depth < 1:
        raise UsageError(f"--depth must be >= 1, got {args.depth}")
    if args.steps < 0:
        raise UsageError(f"--steps must be >= 0, got {args.steps}")
    if args.eval_every < 1 or args.checkpoint_every < 1:
        raise UsageError("--eval-every and --checkpoint-every must be >= 1")
    shots = shots_option(args.shots)
    qubits = data.num_bits if args.qubits is None else args.qubits
    if qubits != data.num_bits:
        raise UsageError(f"the data set {data.name} has {data.num_bits} bits but --qubits is {qubits}; "
                         f"a Born machine needs one qubit per bit")
    try:
        sigmas = [float(s) for s in args.sigmas.split(",")]
    except ValueError:
        raise UsageError(f"--sigmas must be comma-separated numbers, got {args.sigmas!r}") from None
    if not sigmas or any(s <= 0 for s in sigmas):
        raise UsageError(f"--sigmas must be positive, got {args.sigmas!r}")
    optimizer = args.optimizer
    if shots is not None and optimizer == "lbfgs":
        raise UsageError("--shots N estimates gradients from samples; L-BFGS needs exact ones: "
                         "use --optimizer adam (or --shots exact)")
    if shots is not None and args.loss != "mmd":
        raise UsageError("--shots N trains the MMD loss; KL needs exact probabilities")
    if args.backend != "torch" and shots is None:
        raise UsageError(f"--backend {args.backend} runs shot-based training: pass --shots N (and --optimizer adam)")
    grow = bool(args.grow)
    # the cx pairs themselves: a checkpoint made on another tree (e.g. before the Chow-Liu tie-break
    # changed) refuses to resume instead of continuing its angles on different gates
    edges = [list(e) for e in entangler_for(args.entangler, data.num_bits, data)]
    return {"dataset": data.name, "depth": args.depth, "grow": grow, "entangler": args.entangler, "edges": edges,
            "optimizer": optimizer, "lr": args.lr, "shots": shots, "sigmas": sigmas,
            "normalize_kernel": args.normalize_kernel, "seed": args.seed, "backend": args.backend, "loss": args.loss}


def make_backend(name: str, shots: int | None, seed: int) -> object | None:
    """The backend object for ``--backend``: ``None`` for torch, else a Qiskit backend."""
    if name == "torch":
        return None
    import qdiff

    if name == "aer":
        return qdiff.AerBackend(shots=shots, seed=seed)
    if name.startswith("fake:"):
        from qiskit_ibm_runtime import fake_provider

        wanted = name.split(":", 1)[1].lower().replace("_", "")
        classes = {c.lower(): c for c in dir(fake_provider) if c.startswith("Fake")}
        match = classes.get(wanted) or classes.get(f"fake{wanted}") or classes.get(f"fake{wanted}v2")
        if match is None:
            raise UsageError(f"unknown fake backend {name!r}; e.g. fake:manila, fake:fez")
        return qdiff.QiskitBackend(getattr(fake_provider, match)(), shots=shots, seed=seed)
    raise UsageError(f"unknown --backend {name!r}; use torch, aer or fake:<name>")


def _summary(trainer: Trainer, seconds: float, out: Path, data: Distribution) -> dict[str, Any]:
    metrics = trainer.evaluate()
    summary = {**metrics, "steps": trainer.step_count, "seconds": round(seconds, 3), "dataset": data.name,
               "num_qubits": data.num_bits, "num_parameters": trainer.machine.circuit.num_parameters}
    write_json(out / SUMMARY, summary)
    return summary


def _print_summary(summary: dict[str, Any], config: dict[str, Any], out: Path, plots: list[Path]) -> None:
    mode = "exact" if config["shots"] is None else f"{config['shots']} shots"
    grown = " (grown from shallower circuits)" if config["grow"] else ""
    print(f"\nBorn machine on {summary['dataset']}: {summary['num_qubits']} qubits, depth {config['depth']}{grown}, "
          f"{summary['num_parameters']} parameters, {config['entangler']} entangler, {config['optimizer']}, {mode}")
    print(f"  steps       {summary['steps']}   ({summary['seconds']:.1f} s)")
    print(f"  MMD         {summary['mmd']:.3e}")
    print(f"  KL(data|model) {summary['kl']:.4f}")
    print(f"  TV          {summary['tv']:.4f}")
    if "valid_rate" in summary:
        print(f"  valid rate  {summary['valid_rate']:.2%}")
    print(f"  output      {out}/ (summary.json, metrics.jsonl, checkpoint.pt"
          + (", " + ", ".join(p.name for p in plots) if plots else "") + ")")


def _train(config: dict[str, Any], args: argparse.Namespace) -> int:
    default_out = f"runs/qcbm-{config['dataset']}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, checkpoint = open_run(args.out, default_out, args.resume, args.force, config, RUN_KEYS)
    data = dataset(config["dataset"])
    edges = [tuple(e) for e in config["edges"]]
    backend = make_backend(config["backend"], config["shots"], config["seed"])
    stages = growth_stages(config["depth"], args.steps) if config["grow"] else [(config["depth"], args.steps)]
    if checkpoint is not None and checkpoint.get("stages"):  # keep the schedule of the run being resumed
        stages = [tuple(stage) for stage in checkpoint["stages"]]
        stages[-1] = (stages[-1][0], max(args.steps - sum(steps for _, steps in stages[:-1]), 0))
    stage_ends = list(itertools.accumulate(steps for _, steps in stages))

    def build(depth: int, weights: torch.Tensor | None, step: int) -> Trainer:
        machine = BornMachine(born_circuit(data.num_bits, depth, edges), seed=config["seed"], weights=weights,
                              backend=backend)
        trainer = Trainer(machine, data, loss=config["loss"], optimizer=config["optimizer"], lr=config["lr"],
                          shots=config["shots"], sigmas=config["sigmas"],
                          normalize_kernel=config["normalize_kernel"], seed=config["seed"])
        trainer.step_count = step
        return trainer

    seconds = 0.0
    if checkpoint is None:
        trainer = build(stages[0][0], None, 0)
    else:
        depth_now = int(checkpoint.get("depth_now", config["depth"]))
        trainer = build(depth_now, None, 0)
        trainer.load_state_dict(checkpoint["trainer"])
        seconds = float(checkpoint.get("seconds", 0.0))
    current_depth = trainer.machine.circuit.num_parameters // data.num_bits // 3
    log = MetricsLog(out, trainer.step_count if checkpoint is not None else None)

    def save(elapsed: float) -> None:
        save_checkpoint(out, {"config": config, "trainer": trainer.state_dict(), "seconds": elapsed,
                              "edges": [list(e) for e in edges], "depth_now": current_depth,
                              "stages": [list(stage) for stage in stages]})

    def step() -> dict[str, Any] | None:
        nonlocal trainer, current_depth
        if trainer.step_count >= args.steps:
            return None
        stage = next((i for i, end in enumerate(stage_ends) if trainer.step_count < end), len(stages) - 1)
        if stages[stage][0] != current_depth:  # grow: same distribution, more layers
            grown = embed_weights(trainer.machine.weights.detach(), data.num_bits, current_depth, stages[stage][0])
            trainer = build(stages[stage][0], grown, trainer.step_count)
            current_depth = stages[stage][0]
        record: dict[str, Any] = trainer.step()
        record["depth"] = current_depth
        if trainer.step_count % args.eval_every == 0 or trainer.step_count == args.steps:
            record.update(trainer.evaluate())
        return record

    finished = train_loop(step, save, log=log, out=out, total=args.steps, initial=trainer.step_count,
                          seconds=seconds, desc="qcbm", quiet=args.quiet, checkpoint_every=args.checkpoint_every)
    if finished is None:
        return 130
    seconds = finished
    machine = trainer.machine
    summary = _summary(trainer, seconds, out, data)
    plots: list[Path] = []
    if args.plots and plotting_available():
        with torch.no_grad():
            model_p = BornMachine(machine.circuit, weights=machine.weights.detach()).probs().numpy()
        samples = model_samples(machine, 64, config["seed"]) if data.shape is not None else np.zeros(0, int)
        plots = save_plots(out, log.read(), model_p, data.probs, samples, data.shape)
    elif args.plots:
        print("(plots skipped: install the plot extra, pip install 'qdiff[plot]')", file=sys.stderr)
    _print_summary(summary, config, out, plots)
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``qdiff qcbm``; returns the exit status."""
    return guarded("qcbm", lambda: _train(_config(args), args), (UsageError, RunDirError))
