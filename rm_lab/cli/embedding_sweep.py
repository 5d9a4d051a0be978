"""`python -m rm_lab.embedding_sweep`: A seed x head sweep of method=embedding in one process: the data and the embedding cache"""
from __future__ import annotations

import logging
import sys

from rm_lab.cli import EXIT_USAGE, config_errors
from rm_lab.studies.embedding.sweep import compose_cfg, run_sweep


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    prog = "python -m rm_lab.embedding_study.sweep"
    with config_errors(prog):
        try:
            cfg = compose_cfg(list(sys.argv[1:] if argv is None else argv))
        except ValueError as err:  # a config without the sweep's keys
            print(f"{prog}: {err}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
    return run_sweep(cfg)


if __name__ == "__main__":
    main()
