"""Thin command-line entry points and benchmarks over backend and indexer."""
