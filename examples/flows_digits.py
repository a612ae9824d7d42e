"""Density estimation of scikit-learn's 8x8 digits (dequantised): test NLL in bits per dimension.

    python examples/flows_digits.py --model realnvp
    python examples/flows_digits.py --model ma
"""

from __future__ import annotations

import argparse
import time

import torch

from qdiff.flows import FlowTrainer, bits_per_dim, dequantize, load_digits, mean_nll
from qdiff.flows.presets import build_model, defaults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("ma", "realnvp"), default="realnvp")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # small models: one thread is fastest
    s = defaults("digits", args.model)
    steps = s["steps"] if args.steps is None else args.steps
    train, test = load_digits(seed=args.seed)
    model = build_model("digits", args.model, hidden=s["hidden"], layers=s["layers"], ode_steps=s["ode_steps"],
                        dt=s["dt"])
    trainer = FlowTrainer(model, data=train, transform=lambda v: dequantize(v).float(), batch=s["batch"],
                          lr=s["lr"], lr_decay=s["lr_decay"])
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    nll = sum(mean_nll(model, dequantize(test).float()) for _ in range(4)) / 4
    print(f"digits / {args.model}: {len(train)} training, {len(test)} test images, {steps} steps in "
          f"{time.perf_counter() - start:.0f} s")
    print(f"test NLL = {nll:.2f} nats (dequantised, [0,1]^64) = {bits_per_dim(nll, 64):.4f} bits/dim")


if __name__ == "__main__":
    main()
