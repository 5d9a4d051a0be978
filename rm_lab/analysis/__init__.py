"""Command aliases only: `python -m rm_lab.analysis[.sub]` runs rm_lab.cli; the code is rm_lab.studies.base_model."""
