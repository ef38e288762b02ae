"""Benchmarks: dataset readers, metrics (flow accuracy, PCK) and a runner over matchers."""
