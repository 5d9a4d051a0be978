"""Alias of rm_lab.cli.param_table: `python -m rm_lab.param_table`."""
from rm_lab.cli.param_table import main

if __name__ == "__main__":
    main()
