"""Command aliases only: `python -m rm_lab.embedding_study[.sub]` runs rm_lab.cli; the code is rm_lab.studies.embedding."""
