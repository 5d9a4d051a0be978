"""`python -m rm_lab.embedding_study.sweep`: A seed x head sweep of method=embedding in one process: the data and the embedding cache"""
from __future__ import annotations

import logging
import sys

from rm_lab.cli import config_errors
from rm_lab.studies.embedding.sweep import compose_cfg, run_sweep


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    with config_errors("python -m rm_lab.embedding_study.sweep", ValueError):  # ValueError: no sweep keys
        cfg = compose_cfg(list(sys.argv[1:] if argv is None else argv))
    return run_sweep(cfg)


if __name__ == "__main__":
    main()
