"""Alias of rm_lab.cli.export: `python -m rm_lab.export`."""
from rm_lab.cli.export import main

if __name__ == "__main__":
    raise SystemExit(main())  # the command's exit status (2: a wrong path or argument)
