"""Alias of rm_lab.cli.embedding_sweep: `python -m rm_lab.embedding_study.sweep`."""
from rm_lab.cli.embedding_sweep import main

if __name__ == "__main__":
    main()
