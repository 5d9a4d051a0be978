"""Alias of rm_lab.cli.analysis_stages: `python -m rm_lab.analysis.stages`."""
from rm_lab.cli.analysis_stages import main

if __name__ == "__main__":
    raise SystemExit(main())  # the command's exit status
