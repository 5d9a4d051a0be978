"""Alias of rm_lab.cli.results: `python -m rm_lab.results`."""
from rm_lab.cli.results import main

if __name__ == "__main__":
    raise SystemExit(main())  # the command's exit status
