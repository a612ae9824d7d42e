"""qdiff's benchmark suite against its peers (issue 9): ``python -m benchmarks.suite [--quick]``.

One file per job: ``cli`` (arguments), ``run`` (the driver), ``timing`` (interleaved medians),
``peers`` (optional imports), ``machine`` and ``report`` (what is written), ``circuits`` (the
workloads as data), ``impl_*`` (each framework's side), and one file per workload family:
``gates``, ``hea``, ``qcbm``, ``qaoa``, ``batch``, ``memory``. See benchmarks/README.md.
"""
