"""A config becomes a finished run: builders, the run's named stages, checkpoints, strategies, memory plan."""
