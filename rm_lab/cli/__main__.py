"""`python -m rm_lab.cli`: every command, one line each."""
from rm_lab.cli import listing

if __name__ == "__main__":
    print(listing())
