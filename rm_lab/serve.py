"""Alias of rm_lab.cli.serve: `python -m rm_lab.serve`."""
from rm_lab.cli.serve import main

if __name__ == "__main__":
    raise SystemExit(main())
