"""Test support for engine authors: small real host objects, a temporary PostgreSQL server, and the
conformance suite (a pytest plugin loaded automatically through the ``pytest11`` entry point).

Install with the ``testing`` extra: ``pip install patroni-mpp[testing]``.
"""
