"""Alias of rm_lab.cli.embedding_study: `python -m rm_lab.embedding_study`."""
from rm_lab.cli.embedding_study import main

if __name__ == "__main__":
    main()
