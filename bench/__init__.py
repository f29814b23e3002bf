"""Benchmarks (run on demand: `make bench`, `make bench-full`); never timed in the unit tests."""
