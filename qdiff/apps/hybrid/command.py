"""``qdiff hybrid``: train a Born-machine prior with a conditional flow on noisy bars-and-stripes images.

    qdiff hybrid --dataset bas2x2 --steps 1500                 # exact maximum likelihood
    qdiff hybrid --dataset bas2x2 --compare                    # also flow-only and Born-only baselines
    qdiff hybrid --dataset bas2x2 --shots 256 --steps 300      # shot-based: sampled MMD, parameter shift

Writes ``DIR/metrics.jsonl``, ``DIR/checkpoint.pt`` (atomically; ``--resume`` continues it, inside a
baseline too), ``DIR/summary.json`` and, with the ``plot`` extra, ``loss.png``, ``samples.png`` and
``latent.png``; see :mod:`qdiff.apps.rundir`.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qdiff.apps.hybrid.baselines import parameter_count
from qdiff.apps.hybrid.builders import born_only_model, flow_only_model, hybrid_model
from qdiff.apps.hybrid.data import NoisyBAS, split
from qdiff.apps.hybrid.kernels import RBFMixture, sample_mmd
from qdiff.apps.hybrid.model import HybridBornFlow
from qdiff.apps.hybrid.train import NLLTrainer, SampledTrainer, mean_nll
from qdiff.apps.loop import UsageError, add_run_options, guarded, shots_option, train_loop
from qdiff.apps.qcbm.model import BornMachine
from qdiff.apps.rundir import SUMMARY, MetricsLog, RunDirError, open_run, save_checkpoint, write_json

RUN_KEYS = ("dataset", "depth", "entangler", "hidden", "layers", "batch", "lr", "circuit_lr", "lr_decay", "shots",
            "per_state", "train", "test", "compare", "born_bits", "born_lr", "seed", "backend")
PHASES = ("hybrid", "flow_only", "born_only")
MAX_BORN_QUBITS = 16


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``hybrid`` subcommand."""
    p = sub.add_parser("hybrid", help="train a Born-machine prior with a conditional flow (hybrid generative model)",
                       description="Train a hybrid generative model p(x) = sum_z p_theta(z) p_phi(x|z) (a Born "
                                   "machine over latent bits and a conditional RealNVP) on noisy bars-and-stripes "
                                   "images, by exact maximum likelihood or from circuit samples.")
    p.add_argument("--dataset", default="bas2x2", help="bas<rows>x<cols>, at most 12 pixels (default bas2x2)")
    p.add_argument("--depth", type=int, default=4, help="entangling layers of the Born machine (default 4)")
    p.add_argument("--entangler", default="chow-liu", choices=("chow-liu", "line", "ring"),
                   help="cx graph of the prior (default: the Chow-Liu tree of the latent patterns)")
    p.add_argument("--hidden", type=int, default=16, help="width of the flow's conditioners (default 16)")
    p.add_argument("--layers", type=int, default=4, help="coupling layers of the flow (default 4)")
    p.add_argument("--steps", type=int, default=1500, help="Adam steps per model (default 1500)")
    p.add_argument("--batch", type=int, default=256, help="data rows per step (default 256)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate of the flows (default 5e-3)")
    p.add_argument("--circuit-lr", type=float, default=0.05, help="Adam learning rate of the circuit (default 0.05)")
    p.add_argument("--lr-decay", type=float, default=0.999, help="learning-rate factor per step (default 0.999)")
    p.add_argument("--shots", default="exact", help="'exact' (default: maximum likelihood) or samples per circuit "
                                                    "for the shot-based MMD objective")
    p.add_argument("--per-state", type=int, default=4, help="flow draws per latent state in the shot-based "
                                                            "circuit gradient (default 4)")
    p.add_argument("--backend", default="torch", help="torch (default), aer, or fake:<name> (shot-based only)")
    p.add_argument("--train", type=int, default=5000, help="training images (default 5000)")
    p.add_argument("--test", type=int, default=2000, help="test images (default 2000)")
    p.add_argument("--compare", action="store_true", help="also train the flow-only and Born-only baselines at a "
                                                          "similar parameter count")
    p.add_argument("--born-bits", type=int, default=None, help="bits per pixel of the Born-only baseline "
                                                               "(default: the most with at most 12 qubits)")
    p.add_argument("--born-lr", type=float, default=0.05, help="Adam learning rate of the Born-only baseline")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the initialisation and the sampling")
    add_run_options(p, "runs/hybrid-<dataset>-<time>", checkpoint_every=100)
    p.add_argument("--eval-every", type=int, default=100, help="test NLL every N steps (default 100)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: small models)")
    p.set_defaults(run=run)


def _dataset(name: str) -> NoisyBAS:
    match = re.fullmatch(r"bas(\d+)x(\d+)", name)
    if not match:
        raise UsageError(f"unknown dataset {name!r}; use bas<rows>x<cols>, e.g. bas2x2 or bas3x3")
    try:
        return NoisyBAS(int(match[1]), int(match[2]))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """Validated run settings; raises :class:`UsageError` before any work."""
    data = _dataset(args.dataset)
    for name in ("depth", "hidden", "layers", "batch", "per_state", "eval_every", "checkpoint_every", "threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.steps < 0:
        raise UsageError(f"--steps must be >= 0, got {args.steps}")
    if args.train < 2 or args.test < 2:
        raise UsageError("--train and --test must be >= 2")
    if not (args.lr > 0 and args.circuit_lr > 0 and args.born_lr > 0 and 0 < args.lr_decay <= 1):
        raise UsageError("--lr, --circuit-lr and --born-lr must be > 0 and --lr-decay in (0, 1]")
    shots = shots_option(args.shots, 2, " (the estimate pairs distinct samples)")
    if args.backend != "torch" and shots is None:
        raise UsageError(f"--backend {args.backend} gives circuit samples: pass --shots N for the shot-based objective")
    born_bits = args.born_bits if args.born_bits is not None else max(1, 12 // data.dim)
    if born_bits < 1 or data.dim * born_bits > MAX_BORN_QUBITS:
        raise UsageError(f"--born-bits {born_bits} gives {data.dim * born_bits} qubits for {data.dim} pixels; the "
                         f"Born-only baseline allows at most {MAX_BORN_QUBITS}: use --born-bits "
                         f"{max(1, MAX_BORN_QUBITS // data.dim)} or less")
    return {"dataset": data.name, "depth": args.depth, "entangler": args.entangler, "hidden": args.hidden,
            "layers": args.layers, "batch": args.batch, "lr": args.lr, "circuit_lr": args.circuit_lr,
            "lr_decay": args.lr_decay, "shots": shots, "per_state": args.per_state, "train": args.train,
            "test": args.test, "compare": args.compare, "born_bits": born_bits, "born_lr": args.born_lr,
            "seed": args.seed, "backend": args.backend}


def _simulated(model: HybridBornFlow) -> HybridBornFlow:
    """The same model with its prior on the torch simulator (exact evaluation of a backend-trained model)."""
    if model.prior.backend is None:
        return model
    return HybridBornFlow(BornMachine(model.prior.circuit, weights=model.prior.weights.detach()), model.flow)


def _evaluate(model: torch.nn.Module, test: torch.Tensor, seed: int, samples: int = 2000) -> dict[str, float]:
    """Test NLL (nats per image) and the sample MMD against the test images."""
    drawn = model.sample(min(samples, len(test)), seed=seed)
    with torch.no_grad():
        mmd = float(sample_mmd(drawn.to(test.dtype), test[:samples], RBFMixture()))
    return {"test_nll": mean_nll(model, test), "test_mmd": mmd}


def _backend(config: dict[str, Any]) -> object | None:
    """The backend of ``--backend`` (built before any output is written)."""
    if config["backend"] == "torch":
        return None
    from qdiff.apps.qcbm.command import make_backend

    try:
        return make_backend(config["backend"], config["shots"], config["seed"])
    except Exception as exc:  # an unknown name, or Qiskit not installed
        raise UsageError(f"--backend {config['backend']}: {exc}") from None


def _make(phase: str, config: dict[str, Any], data: NoisyBAS, x_train: torch.Tensor, hybrid_parameters: int,
          backend: object | None):
    """The model and trainer of one phase."""
    if phase == "hybrid":
        model = hybrid_model(data, config, backend)
        if config["shots"] is None:
            return model, NLLTrainer(model, x_train, config["batch"], config["lr"], config["circuit_lr"],
                                     config["lr_decay"], config["seed"])
        return model, SampledTrainer(model, x_train, config["shots"], RBFMixture(), config["batch"], config["lr"],
                                     config["circuit_lr"], config["lr_decay"], config["per_state"], config["seed"])
    if phase == "flow_only":
        model = flow_only_model(data, config, hybrid_parameters)
        return model, NLLTrainer(model, x_train, config["batch"], config["lr"], None, config["lr_decay"],
                                 config["seed"])
    model = born_only_model(data, config, hybrid_parameters)
    return model, NLLTrainer(model, x_train, None, config["born_lr"], None, config["lr_decay"], config["seed"])


def _train(config: dict[str, Any], args: argparse.Namespace) -> int:
    backend = _backend(config)
    default_out = f"runs/hybrid-{config['dataset']}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, checkpoint = open_run(args.out, default_out, args.resume, args.force, config, RUN_KEYS)
    data = _dataset(config["dataset"])
    x_train, x_test = split(data, config["train"], config["test"], config["seed"])
    phases = PHASES if config["compare"] else PHASES[:1]
    steps = args.steps
    done: dict[str, dict[str, Any]] = {} if checkpoint is None else dict(checkpoint["done"])
    seconds = 0.0 if checkpoint is None else float(checkpoint.get("seconds", 0.0))
    global_step = 0 if checkpoint is None else int(checkpoint["global_step"])
    log = MetricsLog(out, global_step if checkpoint is not None else None)
    hybrid_parameters = int(done["hybrid"]["num_parameters"]) if "hybrid" in done else 0
    models: dict[str, torch.nn.Module] = {}

    for phase in phases:
        model, trainer = _make(phase, config, data, x_train, hybrid_parameters, backend)
        models[phase] = model
        if phase in done:
            model.load_state_dict(done[phase]["model"])
            continue
        if checkpoint is not None and checkpoint.get("phase") == phase:
            trainer.load_state_dict(checkpoint["trainer"])
        offset = global_step - trainer.step_count

        def save(elapsed: float) -> None:
            save_checkpoint(out, {"config": config, "trainer": trainer.state_dict(), "phase": phase, "done": done,
                                  "global_step": offset + trainer.step_count, "seconds": elapsed})

        evaluated = _simulated(model) if isinstance(model, HybridBornFlow) else model

        def step() -> dict[str, Any] | None:
            if trainer.step_count >= steps:
                return None
            record: dict[str, Any] = {**trainer.step(), "model": phase}
            record["phase_step"] = record["step"]
            record["step"] = offset + trainer.step_count
            if trainer.step_count % args.eval_every == 0 or trainer.step_count == steps:
                record["test_nll"] = mean_nll(evaluated, x_test[:1000])
            return record

        finished = train_loop(step, save, log=log, out=out, total=steps, initial=trainer.step_count,
                              seconds=seconds, desc=phase, quiet=args.quiet, checkpoint_every=args.checkpoint_every)
        if finished is None:
            return 130
        seconds = finished
        global_step = offset + trainer.step_count
        metrics = _evaluate(evaluated, x_test, config["seed"] + 17)
        done[phase] = {**metrics, "num_parameters": parameter_count(model), "model": model.state_dict()}
        if phase == "hybrid":
            hybrid_parameters = parameter_count(model)
        save_checkpoint(out, {"config": config, "trainer": trainer.state_dict(), "phase": phase, "done": done,
                              "global_step": global_step, "seconds": seconds})

    summary = _summary(config, data, x_test, done, models, steps, seconds)
    write_json(out / SUMMARY, summary)
    plots: list[Path] = []
    if args.plots:
        try:
            from qdiff.apps.hybrid.plots import save_plots

            plots = save_plots(out, log.read(), models, x_test, data, config["seed"])
        except ImportError:
            print("(plots skipped: install the plot extra, pip install 'qdiff[plot]')", file=sys.stderr)
    _print_summary(summary, out, plots)
    return 0


def _summary(config: dict[str, Any], data: NoisyBAS, x_test: torch.Tensor, done: dict[str, dict[str, Any]],
             models: dict[str, torch.nn.Module], steps: int, seconds: float) -> dict[str, Any]:
    hybrid = _simulated(models["hybrid"])
    with torch.no_grad():
        prior = hybrid.prior.probs()
    top = float(prior.sort(descending=True).values[:data.num_patterns].sum())
    summary: dict[str, Any] = {
        "dataset": data.name, "steps": steps, "seconds": round(seconds, 3), "mode": "exact" if config["shots"] is None
        else f"{config['shots']} shots", "test_nll": done["hybrid"]["test_nll"], "test_mmd": done["hybrid"]["test_mmd"],
        "data_test_nll": -float(data.log_prob(x_test).mean()), "num_parameters": done["hybrid"]["num_parameters"],
        "circuit_parameters": hybrid.prior.circuit.num_parameters, "latent_bits": hybrid.latent_bits,
        "prior_mass_on_top_patterns": top, "num_patterns": data.num_patterns,
    }
    for phase in PHASES[1:]:
        if phase in done:
            summary.update({f"{phase}_test_nll": done[phase]["test_nll"], f"{phase}_test_mmd": done[phase]["test_mmd"],
                            f"{phase}_parameters": done[phase]["num_parameters"]})
    if "born_only" in done:
        summary["born_only_qubits"] = data.dim * config["born_bits"]
    return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in summary.items()}


def _print_summary(summary: dict[str, Any], out: Path, plots: list[Path]) -> None:
    print(f"\nhybrid Born machine + conditional flow on noisy {summary['dataset']} ({summary['mode']}): "
          f"{summary['latent_bits']} latent qubits, {summary['num_parameters']} parameters "
          f"({summary['circuit_parameters']} in the circuit), {summary['steps']} steps per model "
          f"({summary['seconds']:.1f} s)")
    print(f"  {'model':<12}{'params':>8}{'test NLL':>12}{'test MMD':>12}")
    print(f"  {'hybrid':<12}{summary['num_parameters']:>8}{summary['test_nll']:>12.4f}{summary['test_mmd']:>12.2e}")
    for phase in PHASES[1:]:
        if f"{phase}_test_nll" in summary:
            print(f"  {phase:<12}{summary[f'{phase}_parameters']:>8}{summary[f'{phase}_test_nll']:>12.4f}"
                  f"{summary[f'{phase}_test_mmd']:>12.2e}")
    print(f"  {'data (exact)':<12}{'':>8}{summary['data_test_nll']:>12.4f}")
    print(f"  prior mass on its top {summary['num_patterns']} latent states: {summary['prior_mass_on_top_patterns']:.2%}")
    print(f"  output      {out}/ (summary.json, metrics.jsonl, checkpoint.pt"
          + (", " + ", ".join(p.name for p in plots) if plots else "") + ")")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``qdiff hybrid``; returns the exit status (torch's thread count is restored)."""
    def body() -> int:
        config = _config(args)  # validated before the thread count changes
        torch.set_num_threads(args.threads)
        return _train(config, args)

    return guarded("hybrid", body, (UsageError, RunDirError))
