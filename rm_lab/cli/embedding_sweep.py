"""`python -m rm_lab.embedding_study.sweep`: A seed x head sweep of method=embedding in one process: the data and the embedding cache"""
from __future__ import annotations

import argparse
import logging

from rm_lab.cli import config_errors, no_stray_flags
from rm_lab.studies.embedding.sweep_config import compose_cfg

PROG = "python -m rm_lab.embedding_study.sweep"


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    _, overrides = parser.parse_known_args(argv)
    no_stray_flags(parser, overrides)
    with config_errors(PROG, ValueError):  # ValueError: no sweep keys
        cfg = compose_cfg(overrides)
    from rm_lab.studies.embedding.sweep import run_sweep  # torch and Lightning, once the config is good

    return run_sweep(cfg)


if __name__ == "__main__":
    main()
