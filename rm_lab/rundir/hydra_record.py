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
