"""`python -m rm_lab.embedding_study.sweep`: A seed x head sweep of method=embedding in one process: the data and the embedding cache"""
from __future__ import annotations

import logging
import sys

from rm_lab.cli import config_errors
from rm_lab.studies.embedding.sweep_config import compose_cfg

PROG = "python -m rm_lab.embedding_study.sweep"


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    overrides = list(sys.argv[1:] if argv is None else argv)
    flags = [a for a in overrides if a.startswith("-")]
    if flags:  # a typo, not a config override
        print(f"{PROG}: unrecognized arguments: {' '.join(flags)} (config overrides are key=value)", file=sys.stderr)
        raise SystemExit(2)
    with config_errors(PROG, ValueError):  # ValueError: no sweep keys
        cfg = compose_cfg(overrides)
    from rm_lab.studies.embedding.sweep import run_sweep  # torch and Lightning, once the config is good

    return run_sweep(cfg)


if __name__ == "__main__":
    main()
