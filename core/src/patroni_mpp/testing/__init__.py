"""Test support for engine authors: host objects, local servers and clusters, and the conformance suite.

Small real host objects (:mod:`.host`), a temporary PostgreSQL server (:mod:`.postgres`, whose
:func:`~.postgres.find_bindir` is the one finder of the server binaries), local clusters for end-to-end
tests and benchmarks (a single-member etcd in :mod:`.etcd`, Patroni nodes started through the launcher in
:mod:`.patroni_node`, a formation of them in :mod:`.formation`, the OS user and pids of their processes in
:mod:`.processes`, ports and REST calls in :mod:`.network`), polling (:mod:`.polling`), the
``PATRONI_MPP_*`` environment variables (:mod:`.environment`), and the conformance suite
(:mod:`.conformance`), whose pytest plugin is loaded automatically through the ``pytest11`` entry point.
Install with the ``testing`` extra: ``pip install patroni-mpp[testing]`` (and ``patroni`` for clusters).
"""
