"""Experiments built on the runner: the embedding study, the base-model analysis, speed and size studies."""
