"""rm_lab: reward-model research with Hydra and PyTorch Lightning.

`python -m rm_lab` trains the configured method; see README.md for the commands.
"""
from rm_lab.config import register_resolvers

__version__ = "0.1.0"

register_resolvers()
