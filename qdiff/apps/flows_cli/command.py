"""``qdiff flow``: train a classical normalizing flow on a target of the papers.

    qdiff flow --target ring2d                            # free energy vs exact -ln Z (quadrature)
    qdiff flow --target moons --fit samples               # density estimation from samples, plotted
    qdiff flow --target ising --L 8 --model neuralrg      # Ising continuous relaxation at T_c
    qdiff flow --target digits --model realnvp            # NLL of sklearn's 8x8 digits, bits/dim
    qdiff flow --target mnist --data ~/data/MNIST/raw     # MNIST from a local copy (never downloaded)

Writes ``DIR/metrics.jsonl``, ``DIR/checkpoint.pt`` (atomically; ``--resume`` continues it),
``DIR/summary.json`` and plots (with the ``plot`` extra); see :mod:`qdiff.apps.rundir`.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qdiff.apps.flows_cli.task import Task, UsageError, make_task
from qdiff.apps.loop import add_run_options, guarded, train_loop
from qdiff.apps.rundir import SUMMARY, MetricsLog, RunDirError, open_run, save_checkpoint, write_json
from qdiff.flows import T_CRITICAL
from qdiff.flows.presets import DEFAULT_MODEL, MODELS, SYMMETRIES, TARGETS

# the settings that define a run: a resumed run must agree on all of them
RUN_KEYS = ("target", "model", "fit", "L", "T", "symmetry", "hidden", "layers", "depth", "ode_steps", "dt", "batch",
            "lr", "lr_decay", "samples", "data", "seed")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``flow`` subcommand."""
    p = sub.add_parser("flow", help="train a classical normalizing flow (RealNVP, Monge-Ampere, NeuralRG)",
                       description="Train a normalizing flow: variational free energy of an unnormalised density "
                                   "(2D toys, Ising relaxation) or density estimation from samples (toys, digits, MNIST).")
    p.add_argument("--target", choices=TARGETS, default="ring2d", help="default ring2d")
    p.add_argument("--model", choices=MODELS, default=None,
                   help="ma, realnvp, neuralrg (ising) or cnf (toys); default per target: realnvp for ring2d, "
                        "moons, digits and mnist, ma for mog and ising")
    p.add_argument("--fit", choices=("energy", "samples"), default=None,
                   help="energy: reverse KL against ln pi (toys, ising; default); samples: maximum likelihood "
                        "(toys; always for digits and mnist)")
    p.add_argument("--L", type=int, default=4, help="Ising lattice size (default 4)")
    p.add_argument("--T", type=float, default=T_CRITICAL, help="Ising temperature (default T_c = 2.269185)")
    p.add_argument("--symmetry", choices=SYMMETRIES, default="z2", help="Ising symmetry of the model (default z2)")
    p.add_argument("--hidden", type=int, default=None, help="hidden width (default per target and model)")
    p.add_argument("--layers", type=int, default=None, help="coupling layers / kernel couplings / CNF depth")
    p.add_argument("--depth", type=int, default=None,
                   help="neuralrg: block layers (disentangler + decimator) per scale (default 1)")
    p.add_argument("--data", default=None,
                   help="mnist: a local copy, a folder with the IDX files (train-images-idx3-ubyte[.gz], "
                        "t10k-images-idx3-ubyte[.gz]) or Keras' mnist.npz; nothing is downloaded")
    p.add_argument("--ode-steps", type=int, default=None, help="RK4 steps of ma and cnf")
    p.add_argument("--dt", type=float, default=None, help="RK4 step size of ma and cnf")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default per target and model)")
    p.add_argument("--batch", type=int, default=None, help="samples or data rows per step")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    p.add_argument("--lr-decay", type=float, default=None, help="learning-rate factor per step")
    p.add_argument("--samples", type=int, default=20000, help="training samples for toy --fit samples (default 20000)")
    p.add_argument("--eval-samples", type=int, default=20000, help="samples of the final estimate (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation, sampling and data split")
    add_run_options(p, "runs/flow-<target>-<model>-<time>", checkpoint_every=100)
    p.add_argument("--eval-every", type=int, default=100, help="estimate the metric every N steps (default 100)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: these models are small, and extra threads mostly wait "
                        "on each other, badly so on a busy machine)")
    p.set_defaults(run=run)


def _positive(name: str, value: float | int, minimum: float = 1) -> None:
    if value < minimum:
        raise UsageError(f"--{name.replace('_', '-')} must be >= {minimum:g}, got {value}")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """Validated run settings (defaults filled in); raises :class:`UsageError` before any work."""
    from qdiff.flows.presets import defaults

    args.model = args.model or DEFAULT_MODEL[args.target]
    try:
        settings = defaults(args.target, args.model)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for key in ("hidden", "layers", "ode_steps", "dt", "steps", "batch", "lr", "lr_decay"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    images = args.target in ("digits", "mnist")
    fit = args.fit or ("samples" if images else "energy")
    if images and fit != "samples":
        raise UsageError(f"--target {args.target} is density estimation: use --fit samples (the default)")
    if args.target == "mnist":
        if args.data is None:
            raise UsageError("--target mnist reads a local copy and never downloads: pass --data PATH (a folder with "
                             "train-images-idx3-ubyte[.gz] and t10k-images-idx3-ubyte[.gz], or an mnist.npz)")
        if not Path(args.data).exists():
            raise UsageError(f"--data {args.data!r} does not exist")
    elif args.data is not None:
        raise UsageError("--data is only for --target mnist")
    if args.depth is not None and args.model != "neuralrg":
        raise UsageError("--depth is only for --model neuralrg (other models: --layers)")
    if args.target == "digits" and importlib.util.find_spec("sklearn") is None:
        raise UsageError("--target digits needs scikit-learn (it ships the data): pip install 'qdiff[flows]'")
    if args.target == "ising" and fit != "energy":
        raise UsageError("--target ising has no samples: use --fit energy (the default)")
    if args.target == "ising":
        if args.L < 2:
            raise UsageError(f"--L must be >= 2, got {args.L}")
        if args.model == "neuralrg" and args.L & (args.L - 1):
            raise UsageError(f"--model neuralrg needs --L a power of two, got {args.L}")
        if not args.T > 0:
            raise UsageError(f"--T must be > 0, got {args.T}")
    for key in ("hidden", "layers", "batch"):
        _positive(key, settings[key])
    _positive("steps", settings["steps"], 0)
    if args.model in ("ma", "cnf"):
        _positive("ode_steps", settings["ode_steps"])
        if not settings["dt"] > 0:
            raise UsageError(f"--dt must be > 0, got {settings['dt']}")
    if not (settings["lr"] > 0 and 0 < settings["lr_decay"] <= 1):
        raise UsageError("--lr must be > 0 and --lr-decay in (0, 1]")
    for key in ("samples", "eval_samples", "eval_every", "checkpoint_every", "threads"):
        _positive(key, getattr(args, key))
    if args.depth is not None:
        _positive("depth", args.depth)
    return {"target": args.target, "model": args.model, "fit": fit, "L": args.L if args.target == "ising" else None,
            "T": args.T if args.target == "ising" else None, "symmetry": args.symmetry, **settings,
            "samples": args.samples if fit == "samples" else None, "seed": args.seed,
            "depth": (args.depth or 1) if args.model == "neuralrg" else None,
            "data": str(Path(args.data).resolve()) if args.data is not None else None}


def _print_summary(summary: dict[str, Any], out: Path, plots: list[Path]) -> None:
    print(f"\nflow {summary['model']} on {summary['target']}: {summary['num_parameters']} parameters, "
          f"{summary['steps']} steps ({summary['seconds']:.1f} s)")
    for key in ("free_energy", "exact_free_energy", "free_energy_per_site", "exact_free_energy_per_site",
                "relative_error", "ln_z_ising_per_site", "nll", "exact_nll", "nll_bits_per_dim"):
        if key in summary:
            err = summary.get(f"{key}_stderr")
            print(f"  {key:<28}{summary[key]:+.5f}" + (f" +- {err:.5f}" if err is not None else ""))
    print(f"  output      {out}/ (summary.json, metrics.jsonl, checkpoint.pt"
          + (", " + ", ".join(p.name for p in plots) if plots else "") + ")")


def _train(config: dict[str, Any], args: argparse.Namespace) -> int:
    default_out = f"runs/flow-{config['target']}-{config['model']}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, checkpoint = open_run(args.out, default_out, args.resume, args.force, config, RUN_KEYS)
    torch.manual_seed(config["seed"])
    task: Task = make_task(config)
    seconds = 0.0
    if checkpoint is not None:
        task.trainer.load_state_dict(checkpoint["trainer"])
        seconds = float(checkpoint.get("seconds", 0.0))
    log = MetricsLog(out, task.trainer.step_count if checkpoint is not None else None)

    def save(elapsed: float) -> None:
        save_checkpoint(out, {"config": config, "trainer": task.trainer.state_dict(), "seconds": elapsed})

    def step() -> dict[str, Any] | None:
        if task.trainer.step_count >= config["steps"]:
            return None
        record: dict[str, Any] = task.trainer.step()
        if task.trainer.step_count % args.eval_every == 0:
            record["eval"] = task.quick_eval()
        return record

    finished = train_loop(step, save, log=log, out=out, total=config["steps"], initial=task.trainer.step_count,
                          seconds=seconds, desc="flow", quiet=args.quiet, checkpoint_every=args.checkpoint_every)
    if finished is None:
        return 130
    seconds = finished
    summary = {"target": config["target"], "model": config["model"], "fit": config["fit"],
               "steps": task.trainer.step_count, "seconds": round(seconds, 3),
               "num_parameters": sum(p.numel() for p in task.model.parameters()),
               **task.final_metrics(args.eval_samples)}
    summary = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in summary.items()}
    write_json(out / SUMMARY, summary)
    plots: list[Path] = []
    if args.plots:
        try:
            plots = task.plots(out, log.read())
        except ImportError:
            print("(plots skipped: install the plot extra, pip install 'qdiff[plot]')", file=sys.stderr)
    _print_summary(summary, out, plots)
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``qdiff flow``; returns the exit status (torch's thread count is restored)."""
    def body() -> int:
        config = _config(args)  # validated before the thread count changes
        torch.set_num_threads(args.threads)
        return _train(config, args)

    return guarded("flow", body, (UsageError, RunDirError, ImportError))
