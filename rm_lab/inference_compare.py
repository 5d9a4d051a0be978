"""Alias of rm_lab.cli.inference_compare: `python -m rm_lab.inference_compare`."""
from rm_lab.cli.inference_compare import main

if __name__ == "__main__":
    main()
