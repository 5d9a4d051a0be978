"""`python -m rm_lab`: the runner's Hydra entry (rm_lab.cli.train); `python -m rm_lab.cli` lists every command."""
from rm_lab.cli.train import main

if __name__ == "__main__":
    main()
