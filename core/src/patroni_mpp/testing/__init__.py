"""Test support for engine authors: host objects, temporary servers and the conformance suite.

Small real host objects (:mod:`.host`), a temporary PostgreSQL server (:mod:`.postgres`), and the
conformance suite (:mod:`.conformance`), whose pytest plugin is loaded automatically through the
``pytest11`` entry point. Install with the ``testing`` extra: ``pip install patroni-mpp[testing]``.
"""
