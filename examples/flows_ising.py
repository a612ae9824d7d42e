"""Ising model (continuous relaxation) at T_c: variational free energy per site of the Monge-Ampere
flow or NeuralRG against the exact value (Kaufman's formula).

    python examples/flows_ising.py --L 4 --model ma
    python examples/flows_ising.py --L 8 --model neuralrg
"""

from __future__ import annotations

import argparse
import time

import torch

from qdiff.flows import T_CRITICAL, FlowTrainer, IsingRelaxation, estimate_free_energy
from qdiff.flows.presets import build_model, defaults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, default=4)
    parser.add_argument("--T", type=float, default=T_CRITICAL)
    parser.add_argument("--model", choices=("ma", "neuralrg", "realnvp"), default="ma")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # small models: one thread is fastest
    s = defaults("ising", args.model)
    steps = s["steps"] if args.steps is None else args.steps
    ising = IsingRelaxation(args.L, args.T)
    model = build_model("ising", args.model, L=args.L, hidden=args.hidden or s["hidden"], layers=s["layers"],
                        ode_steps=s["ode_steps"], dt=s["dt"])
    log_pi = lambda x: ising.log_prob(x.double()).float()  # noqa: E731
    trainer = FlowTrainer(model, log_target=log_pi, batch=s["batch"], lr=s["lr"], lr_decay=s["lr_decay"])
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    n = args.L**2
    f, err = estimate_free_energy(model, log_pi, 20000)
    exact = -ising.exact_log_z / n
    print(f"L = {args.L}, T = {args.T:.6f}, {args.model}: {steps} steps in {time.perf_counter() - start:.0f} s")
    print(f"ln Z_Ising / N = {ising.log_z_ising / n:.5f}")
    print(f"F / N = {f / n:.5f} +- {err / n:.5f}   exact = {exact:.5f}   relative error = "
          f"{abs((f / n - exact) / exact):.2%}")


if __name__ == "__main__":
    main()
