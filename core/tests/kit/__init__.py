"""Tests of the engine conformance kit, the pytest plugin and ``patroni-mpp new-engine``."""
