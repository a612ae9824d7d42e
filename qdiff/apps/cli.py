"""The ``qdiff`` command line (``qdiff --help``, or ``python -m qdiff``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import torch

import qdiff
from qdiff.apps.ansatz import hardware_efficient
from qdiff.apps.flows_cli.command import add_parser as add_flow_parser
from qdiff.apps.hybrid.command import add_parser as add_hybrid_parser
from qdiff.apps.qcbm.command import add_parser as add_qcbm_parser
from qdiff.apps.variational.qaoa_command import add_parser as add_qaoa_parser
from qdiff.apps.variational.vqe_command import add_parser as add_vqe_parser


def _demo(args: argparse.Namespace) -> int:
    """Build a hardware-efficient circuit, print it, its energy and the gradient."""
    n, layers = args.qubits, args.layers
    if n < 2 or layers < 1:
        print("error: --qubits must be >= 2 and --layers >= 1", file=sys.stderr)
        return 2
    circuit = hardware_efficient(n, layers)
    hamiltonian = sum((qdiff.Z(i) @ qdiff.Z(i + 1) for i in range(n - 1)), qdiff.PauliSum())
    hamiltonian = hamiltonian + sum((qdiff.X(i) for i in range(n)), qdiff.PauliSum())
    generator = torch.Generator().manual_seed(args.seed)
    values = (torch.rand(circuit.num_parameters, generator=generator, dtype=torch.float64) * 6.283).requires_grad_()
    start = time.perf_counter()
    energy = qdiff.expval(circuit, hamiltonian, values)
    energy.backward()
    elapsed = time.perf_counter() - start
    print(f"hardware-efficient ansatz: {n} qubits, {layers} layers, {circuit.num_parameters} parameters, "
          f"depth {circuit.depth()}")
    print(f"H = sum Z_i Z_i+1 + sum X_i   <H> = {energy.item():+.6f}")
    print(f"|dE/dtheta| = {values.grad.norm().item():.6f}   (first 4: "
          f"{', '.join(f'{g:+.4f}' for g in values.grad[:4].tolist())})")
    print(f"energy + gradient in {elapsed * 1e3:.1f} ms")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="qdiff", description="Differentiable quantum circuits for PyTorch.")
    parser.add_argument("--version", action="version", version=f"qdiff {qdiff.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate a small circuit and print a gradient")
    demo.add_argument("--qubits", type=int, default=6, help="number of qubits (default 6)")
    demo.add_argument("--layers", type=int, default=3, help="ansatz layers (default 3)")
    demo.add_argument("--seed", type=int, default=0, help="seed for the random initial angles")
    demo.set_defaults(run=_demo)
    add_qcbm_parser(sub)
    add_vqe_parser(sub)
    add_qaoa_parser(sub)
    add_flow_parser(sub)
    add_hybrid_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qdiff`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
