"""``qdiff vqe``: find a ground state from the command line.

    qdiff vqe --model heisenberg --n 8                 # periodic ring, HVA, L-BFGS
    qdiff vqe --model tfim --n 12 --field 1            # critical transverse-field Ising chain
    qdiff vqe --model h2 --bond-length 0.735 --shots 20000
    qdiff vqe --model h2 --backend fake:manila --shots 4000 --steps 15

Writes ``DIR/metrics.jsonl``, ``DIR/checkpoint.pt`` (``--resume`` continues it), ``DIR/summary.json``
(``energy``, ``exact_energy``, ``error``, ``relative_error``, ``fidelity``, ...) and ``DIR/energy.png``.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import torch

from qdiff.apps.ansatz import hardware_efficient
from qdiff.apps.loop import shots_option
from qdiff.apps.rundir import METRICS, SUMMARY, write_json
from qdiff.apps.variational.ansatz import hva_heisenberg, hva_tfim, particle_conserving
from qdiff.apps.variational.chemistry import molecule
from qdiff.apps.variational.exact import GroundState, ground_state
from qdiff.apps.variational.hamiltonians import heisenberg, tfim
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
from qdiff.apps.variational.vqe_driver import Energy, Minimizer, reference, summarize
from qdiff.ir.circuit import Circuit
from qdiff.ir.observables import PauliSum

MODELS = ("heisenberg", "tfim", "h2", "lih")
DEFAULT_N = {"heisenberg": 8, "tfim": 12}
ANSATZES = ("auto", "hva", "hea", "uccd", "uccsd")
# (ansatz, layers) reaching the targets with the default settings (benchmarks/results/variational.md)
DEFAULT_ANSATZ = {"heisenberg": ("hva", None), "tfim": ("hva", None), "h2": ("uccd", 1), "lih": ("uccsd", 1)}
RUN_KEYS = ("model", "n", "lattice", "periodic", "field", "delta", "j2", "bond_length", "ansatz", "layers",
            "optimizer", "lr", "shots", "backend", "method", "seed", "init_scale")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``vqe`` subcommand."""
    p = sub.add_parser("vqe", help="variational ground-state search (VQE)",
                       description="Minimise <H> over an ansatz: spin models (Heisenberg, TFIM) or molecules "
                                   "(H2, LiH in STO-3G).")
    p.add_argument("--model", choices=MODELS, default="heisenberg", help="Hamiltonian (default heisenberg)")
    p.add_argument("--n", type=int, default=None, help="sites of a chain (default 8 heisenberg, 12 tfim)")
    p.add_argument("--lattice", default=None, help="2-D lattice LxW instead of a chain (e.g. 3x3)")
    p.add_argument("--open", dest="periodic", action="store_false", help="open instead of periodic boundaries")
    p.add_argument("--field", type=float, default=1.0, help="TFIM transverse field h (J = 1; critical at 1)")
    p.add_argument("--delta", type=float, default=1.0, help="Heisenberg ZZ anisotropy (XXZ; default 1)")
    p.add_argument("--j2", type=float, default=0.0, help="Heisenberg next-nearest coupling (default 0)")
    p.add_argument("--bond-length", type=float, default=None, help="molecules: Angstrom (default equilibrium)")
    p.add_argument("--ansatz", choices=ANSATZES, default="auto",
                   help="hva (spin models), uccd / uccsd (molecules), hea (hardware-efficient); default per model")
    p.add_argument("--layers", type=int, default=None, help="ansatz layers (default: enough for the target)")
    p.add_argument("--steps", type=int, default=300, help="maximum optimizer steps (default 300)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default=None,
                   help="default lbfgs; adam with --shots or a Qiskit backend")
    p.add_argument("--lr", type=float, default=None, help="learning rate (Adam 0.05, L-BFGS 1)")
    p.add_argument("--tol", type=float, default=1e-10, help="L-BFGS stops when 3 steps change E by less")
    p.add_argument("--shots", default="exact", help="'exact' (default) or shots per measurement setting")
    p.add_argument("--eval-shots", type=int, default=200_000, help="shots of the final energy estimate")
    p.add_argument("--backend", default="torch", help="torch (default), aer, or fake:<name> (e.g. fake:manila)")
    p.add_argument("--method", default="auto", help="gradient engine (default auto: adjoint / parameter shift)")
    p.add_argument("--init-scale", type=float, default=0.1, help="initial parameters uniform in +-scale")
    add_run_options(p, "vqe")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace) -> dict[str, Any]:
    check_run_options(args)
    molecular = args.model in ("h2", "lih")
    lattice = None
    if args.lattice is not None:
        if molecular:
            raise UsageError("--lattice is for spin models")
        try:
            lx, ly = (int(v) for v in args.lattice.lower().split("x"))
        except ValueError:
            raise UsageError(f"--lattice must look like 3x3, got {args.lattice!r}") from None
        lattice = f"{lx}x{ly}"
    n = args.n
    if n is not None and n < 2:
        raise UsageError(f"--n must be >= 2, got {n}")
    if molecular and args.n is not None:
        width = {"h2": 4, "lih": 12}[args.model]
        if n != width:
            raise UsageError(f"{args.model} in STO-3G has {width} spin orbitals: --n must be {width} (or omitted)")
    ansatz, layers = DEFAULT_ANSATZ[args.model]
    ansatz = ansatz if args.ansatz == "auto" else args.ansatz
    if molecular and ansatz == "hva":
        raise UsageError("--ansatz hva is for spin models; use uccd, uccsd or hea for molecules")
    if not molecular and ansatz in ("uccd", "uccsd"):
        raise UsageError(f"--ansatz {ansatz} is for molecules; use hva or hea for spin models")
    if args.layers is not None and args.layers < 1:
        raise UsageError(f"--layers must be >= 1, got {args.layers}")
    shots = shots_option(args.shots)
    optimizer = args.optimizer or ("adam" if shots is not None or args.backend != "torch" else "lbfgs")
    if optimizer == "lbfgs" and (shots is not None or args.backend != "torch"):
        raise UsageError("L-BFGS needs exact gradients: use --optimizer adam with --shots or a Qiskit backend")
    if args.backend.startswith("fake:") and shots is None:
        raise UsageError("--backend fake:<name> runs with shots: pass --shots N")
    if args.eval_shots <= 0:
        raise UsageError("--eval-shots must be positive")
    return {"model": args.model, "n": n, "lattice": lattice, "periodic": args.periodic, "field": args.field,
            "delta": args.delta, "j2": args.j2, "bond_length": args.bond_length, "ansatz": ansatz,
            "layers": args.layers or layers, "optimizer": optimizer, "lr": args.lr, "shots": shots,
            "backend": args.backend, "method": args.method, "seed": args.seed, "init_scale": args.init_scale}


def build_problem(config: dict[str, Any]) -> tuple[PauliSum, Circuit, GroundState | float | None, str]:
    """``(hamiltonian, ansatz, reference, label)`` for validated settings; fills ``config``'s defaults."""
    model = config["model"]
    if model in ("h2", "lih"):
        mol = molecule(model, config["bond_length"])
        config["bond_length"], config["n"] = mol.bond_length, mol.num_qubits
        H, n = mol.hamiltonian, mol.num_qubits
        if config["ansatz"] == "hea":
            config["layers"] = config["layers"] or 4
            circuit = hardware_efficient(n, config["layers"])
        else:
            circuit = particle_conserving(n, mol.num_electrons, singles=config["ansatz"] == "uccsd")
        ref = ground_state(H, particles=mol.num_electrons)  # the FCI state (its energy is mol.fci_energy)
        return H, circuit, ref, f"{model}-{mol.bond_length:g}"
    lattice: int | tuple[int, int]
    if config["lattice"]:
        lx, ly = (int(v) for v in config["lattice"].split("x"))
        lattice, n = (lx, ly), lx * ly
        config["n"] = n
    else:
        n = config["n"] or DEFAULT_N[model]
        config["n"] = lattice = n
    if model == "tfim":
        H = tfim(lattice, h=config["field"], periodic=config["periodic"])
        layers = config["layers"] = config["layers"] or max(n // 2, 1)
        circuit = hva_tfim(lattice, layers, config["periodic"]) if config["ansatz"] == "hva" else None
    else:
        H = heisenberg(lattice, delta=config["delta"], J2=config["j2"], periodic=config["periodic"])
        layers = config["layers"] = config["layers"] or max(n // 2, 1)
        circuit = None
        if config["ansatz"] == "hva":
            if n % 2:
                raise UsageError(f"the Heisenberg HVA starts from singlet pairs and needs an even number of sites, "
                                 f"got {n}; use --ansatz hea")
            circuit = hva_heisenberg(lattice, layers, config["periodic"], per_bond=n > 8)
    if circuit is None:
        circuit = hardware_efficient(n, layers, entangler="ring" if config["periodic"] else "chain")
    if n > 20:
        return H, circuit, None, f"{model}-{n}"
    return H, circuit, reference(H, n), f"{model}-{n}"


def _backend(name: str, shots: int | None, seed: int) -> object | None:
    from qdiff.apps.qcbm.command import make_backend  # its UsageError is the commands' shared one

    return make_backend(name, shots, seed)


def _run(args: argparse.Namespace) -> int:
    config = _config(args)
    H, circuit, ref, label = build_problem(config)
    backend = _backend(config["backend"], config["shots"], config["seed"])
    energy = Energy(circuit, H, backend=backend, method=config["method"],
                    shots=config["shots"] if backend is None else None, seed=config["seed"])
    g = torch.Generator().manual_seed(config["seed"])
    init = (torch.rand(circuit.num_parameters, generator=g, dtype=torch.float64) * 2 - 1) * config["init_scale"]
    out, checkpoint = open_run(args, default_out("vqe", label), {k: config[k] for k in RUN_KEYS})
    minimizer = Minimizer(energy, init, config["optimizer"], config["lr"])
    seconds, history = 0.0, []
    if checkpoint is not None:
        minimizer.load_state_dict(checkpoint["trainer"]["minimizer"])
        seconds, history = float(checkpoint["seconds"]), list(checkpoint["trainer"]["history"])
    exact_energy = ref.energy if isinstance(ref, GroundState) else ref

    def step(_: object) -> dict[str, Any]:
        e = minimizer.step()
        history.append(e)
        record = {"energy": e}
        if exact_energy is not None:
            record["error"] = e - exact_energy
        return record

    def done(_: object) -> bool:
        if minimizer.step_count >= args.steps:
            return True
        return (config["optimizer"] == "lbfgs" and len(history) > 3
                and abs(history[-1] - history[-4]) < args.tol)

    result = train_loop(out=out, args=args, config={k: config[k] for k in RUN_KEYS}, stages=[None], step=step,
                        done=done, state=lambda: {"minimizer": minimizer.state_dict(), "history": history},
                        stage_index=0, seconds=seconds,
                        resumed_step=checkpoint["step"] if checkpoint else None, desc="vqe")
    if isinstance(result, int):
        return result
    seconds, _ = result
    with torch.no_grad():
        if config["shots"] is not None and backend is None:
            estimate = float(energy.sampled(minimizer.values.detach(), shots=args.eval_shots))
        else:
            estimate = float(energy(minimizer.values.detach()))
    res = summarize(energy, minimizer.values, estimate, ref, minimizer.step_count, history)
    summary = {"model": config["model"], "num_qubits": circuit.num_qubits, "num_parameters": circuit.num_parameters,
               "ansatz": config["ansatz"], "layers": config["layers"], "energy": res.energy,
               "estimate": res.estimate, "exact_energy": res.exact_energy, "error": res.error,
               "relative_error": res.relative_error, "fidelity": res.fidelity, "steps": res.steps,
               "seconds": round(seconds, 3), "backend": config["backend"], "shots": config["shots"],
               "estimate_error": None if exact_energy is None else res.estimate - exact_energy,
               "values": res.values.tolist()}
    if config["model"] in ("h2", "lih"):
        summary["bond_length"] = config["bond_length"]
    write_json(out / SUMMARY, summary)
    plots = plot_curves(out, _metrics(out),
                        "energy", exact_energy, "energy", "energy", log_error=True) if args.plots else []
    _print(summary, out, plots)
    return 0


def _metrics(out: Any) -> list[dict[str, Any]]:
    import json

    path = out / METRICS
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _print(s: dict[str, Any], out: Any, plots: list) -> None:
    mode = "exact" if s["shots"] is None else f"{s['shots']} shots"
    print(f"\nVQE {s['model']}: {s['num_qubits']} qubits, {s['ansatz']} ansatz ({s['layers']} layers, "
          f"{s['num_parameters']} parameters), backend {s['backend']}, {mode}")
    print(f"  steps          {s['steps']}   ({s['seconds']:.1f} s)")
    print(f"  energy         {_fmt(s['energy'], '.8f')}   (exact simulation of the final parameters)")
    if s["estimate"] != s["energy"]:
        print(f"  estimate       {_fmt(s['estimate'], '.8f')}   (on the backend / from shots; error "
              f"{_fmt(s['estimate_error'], '+.2e')})")
    print(f"  exact energy   {_fmt(s['exact_energy'], '.8f')}")
    print(f"  error          {_fmt(s['error'], '+.3e')}   relative {_fmt(s['relative_error'], '.2e')}")
    print(f"  fidelity       {_fmt(s['fidelity'], '.6f')}")
    print(f"  output         {out}/ (summary.json, metrics.jsonl, checkpoint.pt"
          + (", " + ", ".join(p.name for p in plots) if plots else "") + ")")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``qdiff vqe``; returns the exit status."""
    return guarded("vqe", lambda: _run(args))

