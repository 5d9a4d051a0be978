"""Alias of rm_lab.cli.analysis_zoo: `python -m rm_lab.analysis.zoo`."""
from rm_lab.cli.analysis_zoo import main

if __name__ == "__main__":
    main()
