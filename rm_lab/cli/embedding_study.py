"""python -m rm_lab.embedding_study [experiment=embedding_case_study | experiment=embedding_paper data.path=DIR] [key=value ...]"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from rm_lab.core.config import CONF_DIR
from rm_lab.core.errors import ClearError


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="embedding_study")
def main(cfg: DictConfig) -> None:
    """The study; a wrong value (rm_lab.studies.embedding.checks) is one line with exit status 2,
    said before torch loads."""
    from rm_lab.studies.embedding.checks import check_study

    try:
        check_study(cfg)
    except ClearError as err:
        print(f"python -m rm_lab.embedding_study: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    from rm_lab.studies.embedding.run import run_study  # after the checks: a wrong option is said before torch loads

    run_study(cfg)


if __name__ == "__main__":
    main()
