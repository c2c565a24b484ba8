"""Benchmarks: `uv run python -m tests.bench` prints a table. Not part of the test suite."""
