"""Basics under everything: config helpers, atomic I/O, hub access. Imports nothing else of rm_lab."""
