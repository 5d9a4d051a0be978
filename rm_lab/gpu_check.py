"""Alias of rm_lab.cli.gpu_check: `python -m rm_lab.gpu_check`."""
from rm_lab.cli.gpu_check import main

if __name__ == "__main__":
    raise SystemExit(main())
