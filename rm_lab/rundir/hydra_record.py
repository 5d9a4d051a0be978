"""Where Hydra writes its record of a run's config (`hydra.output_subdir`, conf/config.yaml):

    hydra.output_subdir: ${hydra_record:${hydra.runtime.output_dir}}

`.hydra/` (config.yaml, hydra.yaml, overrides.yaml) in a folder that holds no run yet; nothing in a
folder that already holds one (its results file: a completed, running or interrupted run). Hydra
writes its record before the runner starts, so without this a second run refused from a completed
or live folder, or a sweep run again with resume=true, rewrote the folder's record with its own
overrides: the record would no longer be the one of the run whose results sit beside it. A resumed
run keeps the record of the run it continues (the runner refuses a resume whose config differs).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from omegaconf import OmegaConf

from rm_lab.rundir.layout import RunDir

RESOLVER = "hydra_record"


def hydra_record(output_dir: str) -> str | None:
    """`.hydra` for a folder that holds no run, else None (Hydra then writes no record)."""
    folder = RunDir(output_dir)
    return None if folder.results.exists() else RunDir.HYDRA


def register() -> None:
    """The `${hydra_record:...}` resolver (not cached: each job's folder is looked at when Hydra
    is about to write into it)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, hydra_record)


HYDRA_FILES = {"config.yaml", "hydra.yaml", "overrides.yaml"}


def drop_refused(output_dir: str, since: float, stop_at: str | None = None) -> bool:
    """Removes the folder of a run refused before it started (a wrong value) when everything in it
    is what Hydra wrote for this attempt: its record (.hydra/) and its log, each written at or after
    `since` (this process's start), nothing else. Then each emptied parent folder up to `stop_at`
    (not included). Returns whether the folder went. A folder holding anything else is kept."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return False
    record = folder / RunDir.HYDRA
    entries = {p.name for p in folder.iterdir()}
    if not entries <= {RunDir.HYDRA, RunDir.TRAIN_LOG}:
        return False
    files = [folder / RunDir.TRAIN_LOG] if RunDir.TRAIN_LOG in entries else []
    if record.exists():
        if not record.is_dir() or not {p.name for p in record.iterdir()} <= HYDRA_FILES:
            return False
        files += list(record.iterdir())
    if any(not f.is_file() or f.stat().st_mtime < since for f in files):
        return False
    shutil.rmtree(folder)
    stop = Path(stop_at).resolve() if stop_at else None
    parent = folder.resolve().parent
    while parent != stop and parent != parent.parent and stop in parent.parents and not any(parent.iterdir()):
        os.rmdir(parent)
        parent = parent.parent
    return True
