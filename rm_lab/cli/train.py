"""`python -m rm_lab`: the runner: config -> data -> model -> method -> trainer -> eval -> results.json."""
from __future__ import annotations

import os
import sys
import time

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig

from rm_lab.core.checks import check_runner
from rm_lab.core.config import CONF_DIR
from rm_lab.core.errors import ClearError
from rm_lab.data import read_ahead
from rm_lab.rundir import hydra_record
from rm_lab.rundir.finished import finished_run
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.lock import RunLock
from rm_lab.rundir.results import best_validation_accuracy

CANNOT_START = 2  # the exit status of a run (or sweep) that cannot start
STARTED = time.time()  # before Hydra makes the run's folder: what a refused run may take back (drop_refused)
hydra_record.register()  # conf/config.yaml's hydra.output_subdir: Hydra's record in a new run folder only


class JobError(CompactHydraException):
    """A sweep job's user error: the job says it when it fails, the sweep goes on with its other
    jobs, and at the end Hydra names the first failed job's overrides with this one line (a
    CompactHydraException is printed without a traceback) and exits with status 1."""


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    """One run; returns its best VALIDATION average accuracy, what a sweeper (hparams_search=optuna)
    maximizes: tuning never sees the test set. A run that cannot start (its plan says why) exits with
    CANNOT_START and the message alone, no traceback; in a sweep that stops the sweep at that job, so
    the message is said once (SystemExit passes through Hydra's launcher, which records other errors per job).
    A user's error found later (rm_lab.core.errors.ClearError: a value out of range, a busy folder, a
    changed resume, a full disk) is one `rm_lab: error:` line too; a sweep says it for that job
    and goes on with the others (JobError). Values are checked first (rm_lab.core.checks), so a wrong one is
    said before anything loads; the dataset's local files are then read while the runner's libraries
    import (rm_lab/data/read_ahead.py): those imports come after that start."""
    try:
        try:
            check_runner(cfg)  # a wrong value is said at once: before the data is read and torch loads
        except ClearError:  # nothing was done: the folder Hydra made for the run is not left behind
            if HydraConfig.get().mode == RunMode.RUN:  # (a sweep keeps each job's folder: its overrides, its record)
                hydra_record.drop_refused(cfg.paths.output_dir, STARTED, cfg.paths.get("run_root"))
            raise
        folder_taken(cfg)  # so is a folder that holds a completed run, or a live one
        read_ahead.start(cfg.get("dataset"))
        from rm_lab.runner.preflight import CannotStart
        from rm_lab.runner.run import run

        try:
            results = run(cfg)
        except CannotStart as err:
            print(err, file=sys.stderr, flush=True)
            raise SystemExit(CANNOT_START) from None
    except ClearError as err:
        print(f"rm_lab: error: {err}", file=sys.stderr, flush=True)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise JobError(f"rm_lab: error: {err}") from None
        raise SystemExit(CANNOT_START) from None
    return best_validation_accuracy(results)


RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # Lightning's order (_get_rank)


def first_process() -> bool:
    """Whether this is a run's first process, read from the environment as Lightning reads it before
    torch loads (the first of RANK_VARIABLES that is set; a node other than the first is not)."""
    rank = next((os.environ[key] for key in RANK_VARIABLES if os.environ.get(key) not in (None, "")), "0")
    return rank.strip() == "0" and os.environ.get("NODE_RANK", "0").strip() in ("", "0")


def folder_taken(cfg: DictConfig) -> None:
    """FolderHoldsRun or RunFolderBusy at once, before any library loads, where the run's folder holds
    a completed run (without resume=true) or a live one; the runner checks both again, and takes
    the lock, when it starts. Only the first process of a run checks: the others join its folder."""
    if not first_process():
        return
    folder = RunDir(cfg.paths.output_dir)
    finished_run(folder.results, bool(cfg.get("resume")))
    RunLock(folder).check_free()


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
