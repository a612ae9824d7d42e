"""The hybrid model (Born-machine prior + conditional flow) against a flow alone and a Born machine
alone on discretised data, on noisy bars-and-stripes images; writes benchmarks/results/hybrid.md.

    python benchmarks/hybrid_reproduce.py                       # seeds 0 1, every section (~35 min on 2 busy cores)
    python benchmarks/hybrid_reproduce.py --seeds 0 --sections compare

Sections:
  compare  qdiff hybrid --dataset bas2x2 --compare --seed S (defaults: 1500 Adam steps per model):
           test NLL and sample MMD of the hybrid, flow-only and Born-only models at a similar
           parameter count; target: the hybrid's test NLL below both baselines' for every seed.
  shots    the same hybrid trained from circuit samples only (--shots 256, sampled MMD objective,
           parameter shift through the latent distribution), evaluated exactly.
  checks   the baselines given more room (first seed only): the flow alone with a larger learning rate
           and twice the steps, a flow with 8x the parameters, the Born machine at 2 bits per pixel.
Every run is the command line shown, executed in this process; its wall time is measured around it.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from qdiff.apps.cli import main as qdiff_main

RESULTS = Path(__file__).resolve().parent / "results" / "hybrid.md"


def run(command: list[str]) -> tuple[dict, float]:
    """Run ``qdiff <command>`` into a fresh folder; return its summary and wall seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        status = qdiff_main([*command, "--out", tmp, "--quiet", "--no-plots"])
        wall = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"qdiff {' '.join(command)} failed with status {status}")
        return json.loads((Path(tmp) / "summary.json").read_text()), wall


def checks(seed: int, steps: int | None) -> list[str]:
    """The baselines with more room than ``--compare`` gives them (same data, split and evaluation)."""
    from qdiff.apps.hybrid import NoisyBAS, RBFMixture, parameter_count, sample_mmd, split
    from qdiff.apps.hybrid.baselines import flow_only
    from qdiff.apps.hybrid.builders import Sampling, born_only_model, matched_hidden
    from qdiff.apps.hybrid.train import NLLTrainer, mean_nll

    torch.set_num_threads(1)
    data = NoisyBAS(2, 2)
    x_train, x_test = split(data, 5000, 2000, seed)
    config = {"seed": seed, "layers": 4, "born_bits": 2}
    runs = []
    torch.manual_seed(seed)
    runs.append(("flow only, lr 1e-2, decay 0.9995, 2x steps",
                 Sampling(flow_only(4, hidden=matched_hidden(4, 4, 2300), layers=4)), 1e-2, 0.9995, 2))
    torch.manual_seed(seed)
    runs.append(("flow only, hidden 48, 6 couplings, decay 0.9995, 2x steps",
                 Sampling(flow_only(4, hidden=48, layers=6)), 5e-3, 0.9995, 2))
    runs.append(("Born only, 2 bits per pixel (8 qubits)", born_only_model(data, config, 2300), 0.05, 0.999, 1))
    lines = ["## Baseline checks (seed %d): the baselines given more room" % seed, "",
             "Same data, split and evaluation as `--compare`; run by `python benchmarks/hybrid_reproduce.py "
             f"--sections checks --seeds {seed}`.", "",
             "| model | parameters | steps | test NLL | test MMD | wall time |", "|---|---|---|---|---|---|"]
    for name, model, lr, decay, factor in runs:
        n = (steps or 1500) * factor
        batch = None if "Born" in name else 256
        trainer = NLLTrainer(model, x_train, batch, lr, None, decay, seed)
        start = time.perf_counter()
        for _ in range(n):
            trainer.step()
        wall = time.perf_counter() - start
        nll = mean_nll(model, x_test)
        with torch.no_grad():
            mmd = float(sample_mmd(model.sample(2000, seed=seed + 17), x_test, RBFMixture()))
        lines.append(f"| {name} | {parameter_count(model)} | {n} | {nll:.4f} | {mmd:.2e} | {wall:.0f} s |")
        print(f"check {name}: {nll:.4f} ({wall:.0f} s)", flush=True)
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--sections", nargs="+", default=["compare", "shots", "checks"],
                        choices=("compare", "shots", "checks"))
    parser.add_argument("--steps", type=int, default=None, help="override the steps per model (quick checks)")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    extra = [] if args.steps is None else ["--steps", str(args.steps)]
    lines = ["# Hybrid Born machine + conditional flow: reproduction", "",
             f"Machine: {platform.machine()}, {platform.processor() or platform.system()}, torch {torch.__version__}, "
             f"1 torch thread (`--threads 1`, the default), a CPU shared with other jobs, so times are indicative.",
             "Produced by `python benchmarks/hybrid_reproduce.py " + " ".join(
                 [f"--seeds {' '.join(map(str, args.seeds))}", f"--sections {' '.join(args.sections)}", *extra]) + "`.",
             ""]
    ok = True
    if "compare" in args.sections:
        lines += ["## Exact maximum likelihood, against both baselines", "",
                  "| seed | model | parameters | test NLL (nats/image) | test MMD | command, wall time |",
                  "|---|---|---|---|---|---|"]
        for seed in args.seeds:
            command = ["hybrid", "--dataset", "bas2x2", "--compare", "--seed", str(seed), *extra]
            s, wall = run(command)
            text = f"`qdiff {' '.join(command)}`, {wall:.0f} s"
            lines.append(f"| {seed} | hybrid ({s['circuit_parameters']} in the circuit) | {s['num_parameters']} | "
                         f"{s['test_nll']:.4f} | {s['test_mmd']:.2e} | {text} |")
            lines.append(f"| {seed} | flow only | {s['flow_only_parameters']} | {s['flow_only_test_nll']:.4f} | "
                         f"{s['flow_only_test_mmd']:.2e} | |")
            lines.append(f"| {seed} | Born only ({s['born_only_qubits']} qubits) | {s['born_only_parameters']} | "
                         f"{s['born_only_test_nll']:.4f} | {s['born_only_test_mmd']:.2e} | |")
            lines.append(f"| {seed} | data (exact density) | | {s['data_test_nll']:.4f} | | |")
            beats = s["test_nll"] < min(s["flow_only_test_nll"], s["born_only_test_nll"])
            ok &= beats
            print(f"seed {seed}: hybrid {s['test_nll']:.4f}, flow only {s['flow_only_test_nll']:.4f}, "
                  f"Born only {s['born_only_test_nll']:.4f}, data {s['data_test_nll']:.4f} ({wall:.0f} s)", flush=True)
        lines += ["", f"Target (hybrid test NLL below both baselines for every seed): **{'PASS' if ok else 'FAIL'}**",
                  ""]
    if "shots" in args.sections:
        lines += ["## Shot-based training (circuit samples only)", "",
                  "| seed | shots per circuit | circuits per step | test NLL | test MMD | command, wall time |",
                  "|---|---|---|---|---|---|"]
        for seed in args.seeds:
            command = ["hybrid", "--dataset", "bas2x2", "--shots", "256", "--steps", str(args.steps or 600),
                       "--seed", str(seed)]
            s, wall = run(command)
            lines.append(f"| {seed} | 256 | {1 + 2 * s['circuit_parameters']} (one sample call) | {s['test_nll']:.4f} | "
                         f"{s['test_mmd']:.2e} | `qdiff {' '.join(command)}`, {wall:.0f} s |")
            print(f"seed {seed} shots: hybrid {s['test_nll']:.4f} ({wall:.0f} s)", flush=True)
        lines.append("")
    if "checks" in args.sections:
        lines += checks(args.seeds[0], args.steps)
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
