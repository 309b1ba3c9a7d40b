"""Reliability suites: faults, kill and retry, time-window edges, leaks, input limits."""
