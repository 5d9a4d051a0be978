"""Which runs are debug runs: made to check that something runs, never to be averaged.

    python -m rm_lab debug=fast_dev_run            # conf/debug/<name>.yaml sets `debug: <name>`
    python -m rm_lab +trainer.fast_dev_run=true    # marked too: Lightning's debug switches

A debug run's results.json holds `debug: <name>`; `rm_lab.rundir.results.completed()` is false for
it, so reports, tables and studies skip it (and say so).
"""
from __future__ import annotations

from omegaconf import DictConfig

# Lightning Trainer arguments that make a run a debug run whatever the config group says
TRAINER_SWITCHES = ("fast_dev_run", "overfit_batches")


def debug_name(cfg: DictConfig) -> str | None:
    """The run's debug mark: the conf/debug choice, else the first Lightning debug switch set."""
    if cfg.get("debug"):
        return str(cfg.debug)
    trainer = cfg.get("trainer") or {}
    for switch in TRAINER_SWITCHES:
        if trainer.get(switch):
            return switch
    return None
