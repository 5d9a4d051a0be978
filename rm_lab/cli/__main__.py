"""`python -m rm_lab.cli`: every command, one line each; `python -m rm_lab.cli methods ...`: the methods."""
import sys

from rm_lab.cli import listing, methods

if __name__ == "__main__":
    if sys.argv[1:2] == ["methods"]:
        sys.exit(methods(sys.argv[2:]))
    print(listing())
