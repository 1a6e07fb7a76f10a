"""The Citus MPP engine for patroni-mpp."""
