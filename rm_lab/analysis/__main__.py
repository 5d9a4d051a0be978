"""Alias of rm_lab.cli.analysis: `python -m rm_lab.analysis`."""
from rm_lab.cli.analysis import main

if __name__ == "__main__":
    raise SystemExit(main())  # the command's exit status
