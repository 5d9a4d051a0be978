"""Metrics, timing, parameter counting and the results file."""
