"""`python -m rm_lab.train`: The runner: config -> data -> model -> method -> trainer -> eval -> results.json."""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from rm_lab.core.config import CONF_DIR
from rm_lab.rundir.results import best_validation_accuracy
from rm_lab.runner.run import run


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """One run; returns its best VALIDATION average accuracy, what a sweeper (hparams_search=optuna)
    maximizes: tuning never sees the test set."""
    return best_validation_accuracy(run(cfg))


MULTIRUN_FLAGS = ("-m", "--multirun")


def main() -> None:
    """`python -m rm_lab ...`: also accepts `-m` after overrides
    (`python -m rm_lab method=rodos -m seed=0,1,2`), which Hydra's parser alone rejects."""
    args = sys.argv[1:]
    if any(a in MULTIRUN_FLAGS for a in args):
        sys.argv = [sys.argv[0], "--multirun", *(a for a in args if a not in MULTIRUN_FLAGS)]
    hydra_main()


if __name__ == "__main__":
    main()
