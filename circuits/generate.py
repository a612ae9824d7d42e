"""Regenerate the OpenQASM 3 corpus and ``reference.json``: ``python circuits/generate.py``.

Circuits are built with qdiff's builders and written with ``qdiff.dump_qasm``. Reference values
come from Qiskit alone: each written file is parsed back with ``qiskit.qasm3.loads``, its
parameters are bound to fixed values and ``qiskit.quantum_info.Statevector`` gives the
probabilities and expectation values. Everything is seeded, so a rerun reproduces the files
byte for byte (with the same Qiskit version). See README.md in this folder for what each file is.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from qiskit import qasm3
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector

import qdiff
from qdiff.apps.qcbm import bars_and_stripes, born_circuit, chow_liu_tree, mutual_information

HERE = Path(__file__).resolve().parent
TREE_SEED = 2018  # ties and cx directions of the Chow-Liu tree
MAX_PROBS_QUBITS = 9  # circuits up to 9 qubits store every probability; wider ones a marginal
MARGINAL_QUBITS = 6  # ... on qubits 0..5
DIGITS = 13  # rounding of stored probabilities and expectation values (tests compare at 1e-10)


# -- circuits (bars and stripes, its Chow-Liu tree and the Born machine come from qdiff.apps.qcbm) --

def hardware_efficient(n: int, layers: int = 4) -> qdiff.Circuit:
    """``layers`` x (ry on every qubit, rz on every qubit, cx chain 0-1, 1-2, ...)."""
    theta = iter(qdiff.ParameterVector("theta", 2 * n * layers))
    c = qdiff.Circuit(n, name=f"hea{n}")
    for _ in range(layers):
        for q in range(n):
            c.ry(next(theta), q)
        for q in range(n):
            c.rz(next(theta), q)
        for q in range(n - 1):
            c.cx(q, q + 1)
    return c


PRISM = [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (0, 3), (1, 4), (2, 5)]
"""A 3-regular graph on 6 nodes: the triangular prism (two triangles joined by a matching)."""


def qaoa_maxcut(edges: list[tuple[int, int]], n: int, p: int) -> qdiff.Circuit:
    """QAOA for MaxCut: H on all, then p x (rzz(2 gamma_l) on every edge, rx(2 beta_l) on every
    qubit), i.e. exp(-i gamma_l sum Z_i Z_j) and exp(-i beta_l sum X_i); angles shared by expressions."""
    gamma, beta = qdiff.ParameterVector("gamma", p), qdiff.ParameterVector("beta", p)
    c = qdiff.Circuit(n, name="qaoa").h(list(range(n)))
    for layer in range(p):
        for i, j in edges:
            c.rzz(2 * gamma[layer], i, j)
        c.rx(2 * beta[layer], list(range(n)))
    return c


def qft(n: int) -> qdiff.Circuit:
    """An ry(phi_k) input layer, then the QFT exactly as Qiskit's ``synth_qft_full`` (with swaps)."""
    phi = qdiff.ParameterVector("phi", n)
    c = qdiff.Circuit(n, name="qft")
    for q in range(n):
        c.ry(phi[q], q)
    for j in reversed(range(n)):
        c.h(j)
        for k in reversed(range(j)):
            c.cp(np.pi / 2 ** (j - k), j, k)
    for q in range(n // 2):
        c.swap(q, n - 1 - q)
    return c


def ghz(n: int) -> qdiff.Circuit:
    """(|0...0> + |1...1>)/sqrt 2: H on qubit 0 and a cx chain."""
    c = qdiff.Circuit(n, name="ghz").h(0)
    for q in range(n - 1):
        c.cx(q, q + 1)
    return c


def all_gates() -> qdiff.Circuit:
    """Every gate of qdiff's IR once (GATES, mcx with 3 controls, pauli_rot, unitary, barrier),
    angles affine in three parameters, and a global phase."""
    a, b, g = qdiff.Parameter("alpha"), qdiff.Parameter("beta"), qdiff.Parameter("gamma")
    rng = np.random.default_rng(7)
    c = qdiff.Circuit(4, name="all_gates", global_phase=0.25).h([0, 1, 2, 3])
    angles = [a, 2 * b - 0.3, -g + 1.5, 0.5 * a + b, 0.7]
    for k, (name, spec) in enumerate(qdiff.GATES.items()):
        qubits = [int(q) for q in rng.permutation(4)[: spec.num_qubits]]
        c.append(spec, qubits, [angles[(k + i) % len(angles)] for i in range(spec.num_params)])
    c.barrier()
    c.mcx([3, 0, 2], 1).pauli_rot("XYZ", [2, 0, 3], a - g)
    z = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    q, r = np.linalg.qr(z)
    c.unitary(q * (np.diag(r) / np.abs(np.diag(r))), [1, 3])
    return c


def _pauli(n: int, letters: dict[int, str]) -> str:
    """Qiskit label of a Pauli string given as ``{qubit: letter}``."""
    return "".join(letters.get(k, "I") for k in reversed(range(n)))


def observables(kind: str, n: int) -> dict[str, list[tuple[str, float]]]:
    """A few observables per circuit as Qiskit-labelled terms (rightmost letter: qubit 0)."""
    out = {"Z0": [(_pauli(n, {0: "Z"}), 1.0)], f"X{n - 1}": [(_pauli(n, {n - 1: "X"}), 1.0)]}
    if kind == "hea":
        out["sum Z_i Z_i+1 + sum X_i"] = ([(_pauli(n, {q: "Z", q + 1: "Z"}), 1.0) for q in range(n - 1)]
                                          + [(_pauli(n, {q: "X"}), 1.0) for q in range(n)])
    elif kind == "qaoa":
        out["sum over edges Z_i Z_j"] = [(_pauli(n, {i: "Z", j: "Z"}), 1.0) for i, j in PRISM]
    elif kind == "ghz":
        out["X^n"] = [("X" * n, 1.0)]
        out["Z0 Z_last"] = [(_pauli(n, {0: "Z", n - 1: "Z"}), 1.0)]
    elif kind == "bas":
        out["Z0 Z1 + 0.5 Z0 Z3 - 0.25 Y4"] = [(_pauli(n, {0: "Z", 1: "Z"}), 1.0), (_pauli(n, {0: "Z", 3: "Z"}), 0.5),
                                              (_pauli(n, {4: "Y"}), -0.25)]
    else:
        out["Y1 X2 + 0.3 Z0 Z3"] = [(_pauli(n, {1: "Y", 2: "X"}), 1.0), (_pauli(n, {0: "Z", 3: "Z"}), 0.3)]
    return out


# -- references ------------------------------------------------------------------------------------

def qasm_name(name: str) -> str:
    """How Qiskit's OpenQASM 3 exporter writes a parameter name (``theta[3]`` -> ``_theta_3_``)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", name):
        return name
    return "_" + re.sub(r"[^A-Za-z_0-9]", "_", name)


def reference(text: str, names: list[str], values: list[float], kind: str) -> dict:
    """Probabilities and expectation values from Qiskit's reading of the OpenQASM text."""
    qc = qasm3.loads(text)
    by_name = dict(zip((qasm_name(s) for s in names), values))
    assert {p.name for p in qc.parameters} == set(by_name), "parameter names changed in the export"
    state = Statevector(qc.assign_parameters({p: by_name[p.name] for p in qc.parameters}))
    n = qc.num_qubits
    qubits = list(range(n if n <= MAX_PROBS_QUBITS else MARGINAL_QUBITS))
    probs = state.probabilities(qubits)
    obs = []
    for label, terms in observables(kind, n).items():
        value = state.expectation_value(SparsePauliOp.from_list(terms)).real
        obs.append({"name": label, "terms": [[t, c] for t, c in terms], "expval": round(float(value), DIGITS)})
    return {"num_qubits": n, "parameters": names, "values": values, "probs_qubits": qubits,
            "probs": [round(float(x), DIGITS) for x in probs], "observables": obs}


def corpus() -> dict[str, tuple[Callable[[], qdiff.Circuit], str]]:
    """File name -> (builder, observable kind)."""
    tree = chow_liu_tree(bars_and_stripes(3, 3), TREE_SEED)
    return {
        "qcbm_bas3x3_d10.qasm": (lambda: born_circuit(9, 10, tree), "bas"),
        "hea_n4_l4.qasm": (lambda: hardware_efficient(4), "hea"),
        "hea_n8_l4.qasm": (lambda: hardware_efficient(8), "hea"),
        "hea_n12_l4.qasm": (lambda: hardware_efficient(12), "hea"),
        "qaoa_maxcut_n6_p2.qasm": (lambda: qaoa_maxcut(PRISM, 6, 2), "qaoa"),
        "qft_n5.qasm": (lambda: qft(5), "qft"),
        "ghz_n6.qasm": (lambda: ghz(6), "ghz"),
        "all_gates.qasm": (all_gates, "all"),
    }


def main() -> None:
    from qiskit.synthesis import synth_qft_full

    mi = mutual_information(bars_and_stripes(3, 3))
    tree = chow_liu_tree(bars_and_stripes(3, 3), TREE_SEED)
    print("Chow-Liu tree of BAS 3x3 (control, target):", tree)
    print("edge MI (nats):", sorted({round(float(mi[e]), 4) for e in tree}))
    qft5 = qft(5)
    qft_only = qdiff.to_qiskit(qft5.assign({p: 0.0 for p in qft5.parameters}))  # ry(0) = identity
    assert Operator(qft_only).equiv(Operator(synth_qft_full(5))), "qft() differs from Qiskit's QFT"
    refs = {}
    for filename, (build, kind) in corpus().items():
        circuit = build()
        text = qdiff.dump_qasm(circuit)
        (HERE / filename).write_text(text)
        names = [p.name for p in circuit.parameters]
        rng = np.random.default_rng(zlib.crc32(filename.encode()))
        values = [round(float(v), 10) for v in rng.uniform(0, 2 * np.pi, len(names))]
        refs[filename] = reference(text, names, values, kind)
        print(f"{filename}: {circuit.num_qubits} qubits, {len(names)} parameters, {len(circuit)} ops")
    doc = {"about": "Reference values for the OpenQASM files of this folder, from qiskit.quantum_info.Statevector; "
                    "regenerate with python circuits/generate.py. probs[i] is the probability of outcome i on "
                    "probs_qubits (first listed qubit = least significant bit); observable terms use Qiskit "
                    "labels (rightmost letter: qubit 0); values are ordered as parameters.",
           "circuits": refs}
    (HERE / "reference.json").write_text(compact_json(doc) + "\n")


def compact_json(value: object, indent: str = "") -> str:
    """JSON with one key per line, but each list of numbers or strings on one line."""
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {compact_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(inner + json.dumps(v) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


if __name__ == "__main__":
    main()
