"""`python -m rm_lab.train`: The runner: config -> data -> model -> method -> trainer -> eval -> results.json."""
from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rm_lab.core.config import CONF_DIR
from rm_lab.core.errors import ClearError
from rm_lab.runner.run import run


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    try:
        results = run(cfg)
    except ClearError as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweep records the failed job and goes on with the others
        print(f"rm_lab: error: {err}", file=sys.stderr, flush=True)  # a user's error: one line, no traceback
        raise SystemExit(2) from None
    return (results.get("accuracy") or {}).get("average")


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
