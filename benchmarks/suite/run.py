"""The suite's driver: run the chosen workloads, then print and write the table, CSV and plot."""

from __future__ import annotations

import argparse
import sys
import time

import torch

from . import batch, gates, hea, machine, memory, qaoa, qcbm
from .context import Context
from .peers import Peers
from .report import Row, markdown_table, plot, targets_summary, write_csv

RUNNERS = {"gate": gates.run, "hea": hea.run, "born": qcbm.run, "qaoa": qaoa.run, "batch": batch.run,
           "memory": memory.run}

METHOD = """\
## Method

Every figure comes from this one run on this machine, so ratios (not absolute times) are what to
compare. qdiff uses the public API with `method="adjoint"` (complex128). Each time is the median
over repeats after one warm-up call, min – max beside it; the contenders of one line alternate
within every repeat so that a change in the machine's load hits them alike; the repeat count
follows a time budget (few repeats for slow contenders at large n). Ratio = qdiff median / peer
median; a target is the largest ratio that passes. On a shared machine (load average above the
core count) times swing by several x: rerun on a quiet machine before reading much into a ratio.

- gate: `qdiff.state` of a one-gate circuit on a given `2**n` state (public path, validation
  included) and Qulacs applying the gate in place; `x copy` = gate time / `psi.clone()` time (the
  bandwidth floor, timed alternately with each gate); `copy` rows list the floor itself.
- hea-forward / hea-grad: 4 x (ry, rz on every qubit, cx chain), H = sum Z_iZ_{i+1} + sum X_i.
  lightning.qubit: `diff_method="adjoint"`, autograd interface, `value_and_grad`; Qulacs: set every
  angle + `backprop(observable)` (gradient only, the strictest comparison); default.qubit:
  backprop, torch; qiskit-aer: parameter shift, all 2P+1 bindings in one `AerSimulator.run`
  (statevector, `save_expectation_value`, runtime parameter binding). The last two at small n only.
- born-step: 9 qubits, depth 10, 279 angles, MMD to 3x3 bars-and-stripes (sigma 0.5, 1, 2, 4),
  `loss.backward()`; default.qubit backprop (torch); qiskit-aer parameter shift with all 559
  bindings in one call (`save_probabilities`); qdiff backprop for reference.
- qaoa-grad: MaxCut, random 3-regular graph (seed n), p = 4, shared gamma/beta (qdiff's
  `qaoa_circuit`); peers with one parameter per gate get the shared gradient by the chain rule.
- batch-256: one qdiff call on 256 parameter sets + `energy.sum().backward()` against a loop of
  256 single calls (ratio <= 1/10 means at least 10x the throughput).
- adjoint-memory: peak RSS over the starting RSS of one adjoint energy + gradient, fresh process
  per point, large blocks mmapped so freed memory leaves the RSS; bound = 4 state vectors + the
  same measurement at the first width past the numba tape (n = 15 since session 8; the constant, same engine path); an info row fits peak = a * state + c on n = 19 and
  20 (a: state vectors proper).
- Correctness: before any timing, qdiff and every peer agree to atol = rtol = 1e-8 on the energy
  (loss) and the full gradient at the smallest n of each workload (conventions: Qulacs' rotations
  are exp(+i a P/2), so angles enter negated; PennyLane's probabilities are big-endian, so the
  Born machine lists the wires reversed); the checks that ran are listed at the end.
"""


def run_suite(args: argparse.Namespace) -> int:
    """Run, print and write everything; returns the process exit code (0 unless a check fails)."""
    allocator = machine.settle_allocator(not args.system_malloc)
    torch.set_num_threads(args.threads)
    load_start = machine.load()
    command = "python -m benchmarks.suite " + " ".join(sys.argv[1:])
    ctx = Context(quick=args.quick, threads=args.threads, peers=Peers(tuple(args.peers)), sizes=dict(args.sizes))
    head = machine.header("--quick" if args.quick else "full", command.strip(), args.threads,
                          torch.get_num_threads(), allocator, load_start)
    for line in head:
        ctx.log(line)
    rows: list[Row] = []
    t0 = time.perf_counter()
    for name in args.only:
        t = time.perf_counter()
        rows += RUNNERS[name](ctx)
        ctx.log(f"-- {name} done in {time.perf_counter() - t:.0f} s (load {machine.load()})")
    head.append(f"- load average at end: {machine.load()}; wall time of the run {time.perf_counter() - t0:.0f} s")
    warning = machine.load_warning(load_start, machine.load())
    if warning:
        head.append(warning)
    args.out.mkdir(parents=True, exist_ok=True)
    md, csv_path, png = args.out / "suite.md", args.out / "suite.csv", args.out / "suite_time_vs_n.png"
    write_csv(rows, csv_path)
    plot_note = plot(rows, png)
    if plot_note:
        ctx.note(plot_note)
    table, summary = markdown_table(rows), targets_summary(rows)
    notes = [f"- {m}" for m in ctx.notes] or ["- none"]
    checks = [f"- {c}" for c in ctx.checks] or ["- none ran"]
    text = "\n".join([
        "# qdiff benchmark suite: qdiff against PennyLane, Qulacs and qiskit-aer\n",
        f"Produced by `{command.strip()}`; raw figures in `{csv_path.name}`, time versus n in "
        f"`{png.name}`.\n", *head, "", "## Targets (issue 9)\n", summary, "", "## All rows\n", table, "",
        METHOD, "## Notes\n", *notes, "", "## Cross-checks that passed\n", *checks, ""])
    md.write_text(text)
    print(summary + "\n\n" + table)
    ctx.log(f"wrote {md}, {csv_path}" + ("" if plot_note else f", {png}"))
    return 0
