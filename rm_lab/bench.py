"""Alias of rm_lab.cli.bench: `python -m rm_lab.bench`."""
from rm_lab.cli.bench import main

if __name__ == "__main__":
    main()
