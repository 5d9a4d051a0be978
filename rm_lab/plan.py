"""Alias of rm_lab.cli.plan: `python -m rm_lab.plan`."""
from rm_lab.cli.plan import main

if __name__ == "__main__":
    main()
