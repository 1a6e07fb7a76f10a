"""Test support for the Citus engine: test servers, client traffic, statement log, emulation.

A Citus test server (real Citus, or the SQL emulation of Citus's node-metadata API), client traffic,
the server's statement log, and a formation (a coordinator handler on that server).

Nothing in the engine imports this package: it is for its tests, the reliability suite, the end-to-end
tests, the benchmarks and the demo, and for anyone testing a tool against the engine. Its modules:

* :mod:`.server`: :class:`~.server.CitusTestServer`, a temporary PostgreSQL server with database
  ``citus`` holding the real extension (built from source where available) or the emulation, and
  real worker servers where real Citus must reach a node; the parts it is built from:
  :mod:`.modes` (real or emulated), :mod:`.node_servers` (real worker servers),
  :mod:`.emulated_nodes` (the emulation's node addresses), :mod:`.maintenance` (the emulated
  maintenance daemon), :mod:`.reset` (emptying the metadata) and :mod:`.clients` (client
  statements in background threads);
* :mod:`.emulation`: installing the emulation, and helpers that work on both (client writes and
  reads, emptying the metadata, waiting for metadata sync);
* :mod:`.statement_log`: every statement the server ran, read back from its log;
  :mod:`.handler_statements`: the handler's statements among them, in a short form;
* :mod:`.formation`: a coordinator handler on the test server and the DCS view it is shown;
* :mod:`.fixture_support`: starting the server for a pytest session, emptying its metadata between
  tests, and checking that a test left metadata Citus can sync; :mod:`.faults`: a ``pg_catalog``
  function made to raise;
* :mod:`.metadata_api`: the node-metadata API's statements, for the tests of its facts;
* :mod:`.reporting`: the JUnit property that tells which tests ran on real Citus;
* :mod:`.cluster`: a Citus formation of real Patroni nodes (a coordinator and two worker groups, on
  the core toolkit's :mod:`patroni_mpp.testing.formation`), with :mod:`.cluster_workload` (writers
  and a reader through the coordinator), :mod:`.cluster_metadata_watch` (a ``pg_dist_node`` watch),
  :mod:`.cluster_scenario` (the end-to-end scenario), :mod:`.cluster_measured` (the benchmark's
  measured scenario) and :mod:`.patroni_logs` (reading the nodes' logs).
"""
