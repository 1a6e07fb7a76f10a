"""Test support for engine authors: the test toolkit every suite of this project uses too.

Install with the ``testing`` extra: ``pip install patroni-mpp[testing]``. Its modules:

* :mod:`.host`: small real host objects (PostgreSQL, members, clusters) handlers are built with;
* :mod:`.probe_host`: the host PostgreSQL object as Patroni's is at start-up (no config, nothing
  listening, every statement recorded);
* :mod:`.postgres`: a temporary PostgreSQL server, and :func:`~.postgres.find_bindir`, the one
  finder of the server binaries; :mod:`.polling`: waiting for a condition;
* local clusters for end-to-end tests and benchmarks: a single-member etcd (:mod:`.etcd`), Patroni
  nodes started through the launcher (:mod:`.patroni_node`), a formation of them (:mod:`.formation`),
  the OS user and pids of their processes (:mod:`.processes`), ports and REST calls (:mod:`.network`);
* :mod:`.environment`: the ``PATRONI_MPP_*`` environment variables, old names refused;
* :mod:`.conformance`: the conformance suite, whose pytest plugin (:mod:`.plugin`) is loaded
  automatically through the ``pytest11`` entry point;
  :mod:`.in_process` runs it on a hook module imported in-process, nothing installed;
* :mod:`.engines`: the minimal test engine (descriptor, handler, config model, plugin module);
* :mod:`.distributions`: fake distributions, engine plugins written on the fly;
* :mod:`.wheelhouse`: engine plugins through real packaging (wheels, pip, fresh venvs);
* :mod:`.logs`: log records kept with their full text; :mod:`.secret_probes`: passwords in every
  usual place of a Patroni configuration, and a check that none leaked.
"""
