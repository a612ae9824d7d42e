"""Count the aten calls of one small-circuit call: where the time of overhead-bound workloads goes.

    python -m benchmarks.count_ops            # 4-layer ansatz n = 8 gradient and the Born step
    python -m benchmarks.count_ops --n 4 12

A ``TorchDispatchMode`` sees every aten call of one energy + gradient (``impl_qdiff.Energy``) and
one Born-machine step (``impl_qdiff.Born``), forward and backward, after a warm-up; views
(``view``, ``select``, ``transpose``, ...) are counted apart from calls that compute.
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Callable

import numpy as np
from torch.utils._python_dispatch import TorchDispatchMode

from benchmarks.suite import impl_qdiff
from benchmarks.suite.circuits import born_target, hea, hea_hamiltonian, qcbm

VIEWS = frozenset({"view", "t", "transpose", "select", "slice", "unsqueeze", "squeeze", "expand", "as_strided",
                   "alias", "_reshape_alias", "permute", "unbind", "diagonal", "view_as_real", "view_as_complex",
                   "_conj", "detach", "real", "imag", "_unsafe_view", "split", "narrow"})


class _Counter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.calls[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count(call: Callable[[], object]) -> collections.Counter[str]:
    """aten calls of one ``call()`` (after two untimed ones)."""
    call()
    call()
    with _Counter() as counter:
        call()
    return counter.calls


def report(label: str, calls: collections.Counter[str]) -> str:
    views = sum(c for k, c in calls.items() if k in VIEWS)
    top = ", ".join(f"{k} {c}" for k, c in calls.most_common() if k not in VIEWS)
    return f"{label}: {sum(calls.values())} aten calls, {views} views; compute: {top}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[8], help="ansatz sizes (4 layers)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    for n in args.n:
        spec = hea(n, 4)
        energy = impl_qdiff.Energy(spec, hea_hamiltonian(n))
        values = rng.uniform(0, 2 * np.pi, spec.num_parameters)
        print(report(f"ansatz n={n}, 4 layers, energy + gradient (adjoint)", count(lambda: energy(values))))
    spec = qcbm(9, 10)
    step = impl_qdiff.Born(spec, born_target(3, 3), method="adjoint")
    values = rng.uniform(0, 2 * np.pi, spec.num_parameters)
    print(report("Born step n=9, depth 10, MMD (adjoint)", count(lambda: step(values))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
