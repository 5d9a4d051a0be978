"""Alias of rm_lab.cli.score: `python -m rm_lab.score`."""
from rm_lab.cli.score import main

if __name__ == "__main__":
    raise SystemExit(main())  # the command's exit status (2: a wrong path or argument)
