"""Alias of rm_lab.cli.embedding_speed: `python -m rm_lab.embedding_study.speed`."""
from rm_lab.cli.embedding_speed import main

if __name__ == "__main__":
    main()
