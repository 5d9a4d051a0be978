"""python -m rm_lab.embedding_study [experiment=embedding_case_study | experiment=embedding_paper data.path=DIR] [key=value ...]"""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from rm_lab.core.config import CONF_DIR


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="embedding_study")
def main(cfg: DictConfig) -> None:
    from rm_lab.studies.embedding.run import run_study  # after Hydra: a wrong option is said before torch loads

    run_study(cfg)


if __name__ == "__main__":
    main()
