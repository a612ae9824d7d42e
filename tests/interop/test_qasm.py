"""OpenQASM 2.0 / 3.0 through qiskit.qasm2 and qiskit.qasm3: round trips, names and order of
parameters, version detection and file paths."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import qasm3
from qiskit.quantum_info import Operator

import qdiff

from ._helpers import ATOL, qdiff_matrix, random_qdiff_circuit, values_for


@pytest.mark.parametrize("seed", [0, 1])
def test_qasm3_round_trip_is_exact(seed):
    circuit = random_qdiff_circuit(seed)
    text = qdiff.dump_qasm(circuit)
    assert text.startswith("OPENQASM 3.0;") and "input float[64] t_10;" in text
    back = qdiff.load_qasm(text)
    assert [p.name for p in back.parameters] == [p.name for p in circuit.parameters]  # theta[0] etc. too
    values = values_for([p.name for p in circuit.parameters], seed)
    np.testing.assert_allclose(qdiff_matrix(back, values), qdiff_matrix(circuit, values), atol=ATOL)


def test_qasm3_keeps_parameter_names_order_and_gates():
    t2, t10, w = qdiff.Parameter("t_2"), qdiff.Parameter("t_10"), qdiff.ParameterVector("w", 12)
    circuit = (qdiff.Circuit(3, global_phase=0.5).ry(t2, 0).rzz(2 * t10 - 1, 0, 1).rx(w[11], 2).rx(w[2], 1)
               .iswap(1, 2).mcx([0, 1], 2).sxdg(0))
    text = qdiff.dump_qasm(circuit)
    assert "input float[64] _w_11_;" in text and "gphase(" in text
    back = qdiff.load_qasm(text)
    assert [p.name for p in back.parameters] == ["t_2", "t_10", "w[11]", "w[2]"]
    assert list(back.count_ops())[:5] == ["ry", "rzz", "rx", "iswap", "ccx"]  # file-defined gates recognised
    values = values_for(["t_2", "t_10", "w[11]", "w[2]"], 3)
    np.testing.assert_allclose(qdiff_matrix(back, values), qdiff_matrix(circuit, values), atol=ATOL)
    # Qiskit reads the same file the same way
    ref = qasm3.loads(text)
    escaped = {"t_2": "t_2", "t_10": "t_10", "_w_11_": "w[11]", "_w_2_": "w[2]"}
    ref = ref.assign_parameters({p: values[escaped[p.name]] for p in ref.parameters})
    np.testing.assert_allclose(Operator(ref).data, qdiff_matrix(circuit, values), atol=ATOL)


def test_qasm2_round_trip_up_to_global_phase():
    circuit = random_qdiff_circuit(4)
    values = values_for([p.name for p in circuit.parameters], 4)
    bound = circuit.assign({p: values[p.name] for p in circuit.parameters})
    text = qdiff.dump_qasm(bound, version=2)
    assert text.startswith("OPENQASM 2.0;")
    back = qdiff.load_qasm(text)
    assert Operator(qdiff_matrix(back, {})).equiv(Operator(qdiff_matrix(bound, {})))
    with pytest.raises(qdiff.ParameterError, match="OpenQASM 2 has no free parameters"):
        qdiff.dump_qasm(circuit, version=2)
    with pytest.raises(ValueError, match="version must be 2 or 3"):
        qdiff.dump_qasm(circuit, version=4)


def test_version_detection_and_paths(tmp_path):
    qasm2_text = '// a comment\n\n  OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n'
    qasm3_text = '/* a\nblock */ OPENQASM 3;\ninclude "stdgates.inc";\ninput float[64] a;\nqubit[2] q;\nrx(a) q[1];\n'
    bare3 = 'include "stdgates.inc";\nqubit[1] q;\nh q[0];\n'
    assert qdiff.load_qasm(qasm2_text).count_ops() == {"h": 1, "cx": 1}
    assert [p.name for p in qdiff.load_qasm(qasm3_text).parameters] == ["a"]
    assert qdiff.load_qasm(bare3).count_ops() == {"h": 1}
    path = tmp_path / "bell.qasm"
    path.write_text(qasm2_text)
    for source in (path, str(path)):
        assert qdiff.load_qasm(source).count_ops() == {"h": 1, "cx": 1}
    other = tmp_path / "program.txt"
    other.write_text(qasm3_text)
    assert qdiff.load_qasm(str(other)).num_parameters == 1  # an existing file, whatever its suffix
    with pytest.raises(FileNotFoundError):
        qdiff.load_qasm(str(tmp_path / "missing.qasm"))
    with pytest.raises(ValueError, match="OpenQASM version"):
        qdiff.load_qasm("OPENQASM 4.0;\nqubit q;\n")


def test_measurements_in_a_file_raise():
    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\n'
    with pytest.raises(qdiff.GateError, match=r"measure \(x1\)"):
        qdiff.load_qasm(text)
