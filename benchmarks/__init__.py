"""Benchmarks of the provider: hot path, end to end and failure cost (``python -m benchmarks``)."""
