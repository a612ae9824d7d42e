"""Differentiate one circuit with every engine and compare gradients and timings.

Run: python examples/compare_engines.py [--qubits 6] [--layers 3]
"""

from __future__ import annotations

import argparse
import time

import torch

import qdiff
from qdiff.apps.ansatz import hardware_efficient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=6)
    parser.add_argument("--layers", type=int, default=3)
    args = parser.parse_args()
    n = args.qubits
    circuit = hardware_efficient(n, args.layers)
    H = sum((qdiff.Z(i) @ qdiff.Z(i + 1) for i in range(n - 1)), qdiff.PauliSum()) + 0.5 * sum(
        (qdiff.X(i) for i in range(n)), qdiff.PauliSum())
    values = torch.rand(circuit.num_parameters, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reference = None
    qdiff.expval(circuit, H, values)  # warm-up: compile the circuit once
    print(f"{n} qubits, {circuit.num_parameters} parameters (spsa: one random direction, a noisy estimate)")
    for method in ["backprop", "adjoint", "param_shift", "finite_diff", "spsa"]:
        v = values.clone().requires_grad_()
        start = time.perf_counter()
        qdiff.expval(circuit, H, v, method=method).backward()
        elapsed = time.perf_counter() - start
        if reference is None:
            reference = v.grad
        error = (v.grad - reference).abs().max().item()
        print(f"{method:>12}: {elapsed * 1e3:8.1f} ms   max |grad - backprop| = {error:.1e}")


if __name__ == "__main__":
    main()
