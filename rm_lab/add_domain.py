"""Alias of rm_lab.cli.add_domain: `python -m rm_lab.add_domain`."""
from rm_lab.cli.add_domain import main

if __name__ == "__main__":
    main()
