"""Alias of rm_lab.cli.report: `python -m rm_lab.report`."""
from rm_lab.cli.report import main

if __name__ == "__main__":
    raise SystemExit(main())  # the command's exit status
