"""pytest plugin of patroni-mpp (registered as ``pytest11``): fixtures and the conformance suite."""
