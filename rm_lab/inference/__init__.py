"""A finished run's reward model used outside its run: loading and scoring, exporting."""
