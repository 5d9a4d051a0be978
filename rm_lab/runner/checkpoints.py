"""Checkpoints a killed run resumes from.

`LastCheckpoint(path, every_n_steps)` writes a full Lightning checkpoint (weights, optimizer,
loops, callbacks) to `path` (`RunDir.last_checkpoint(part)`) every N training steps and at the
end of every epoch, replacing the previous one atomically, so a kill at any moment leaves a
whole checkpoint. It also carries the random number generators' states, so a resumed fit draws
the same dropout masks as an uninterrupted one. `ResumableTrainer.fit` continues from `resume_from` when that file exists;
the training loaders (`rm_lab.data.loaders.seeded_loader`) restore their epoch's order and skip
the batches already seen, so a resumed run ends where an uninterrupted one does.

Before each save the loggers are flushed (and again when the next step starts, which has the
saved step's row) and the number of rows in csv/metrics.csv is kept in the checkpoint; a resumed
fit cuts the file back to those rows plus the later ones of steps before the checkpoint's
(rm_lab/rundir/csv_log.py), so csv/metrics.csv lists every step of every epoch once. A write that fails (a full disk) removes
its temporary file, leaves the previous checkpoint as it was and raises `RunWriteError`. A checkpoint is
only ever read as weights (rm_lab/core/safe_weights.py).
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from rm_lab.core.errors import RunWriteError
from rm_lab.core.safe_weights import check_weights
from rm_lab.rundir.csv_log import RunCSVLogger


def save_checkpoint(trainer: pl.Trainer, path: str | Path, weights_only: bool = False) -> None:
    """`trainer.save_checkpoint` to a temporary name beside `path`, then renamed over it (every
    process calls it; the first one writes); a failed write leaves no temporary file and the
    previous checkpoint intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(tmp, weights_only=weights_only)
        if trainer.is_global_zero:
            os.replace(tmp, path)
    except OSError as err:
        if trainer.is_global_zero:
            tmp.unlink(missing_ok=True)
        kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint was kept"
        raise RunWriteError(f"could not write {path}: {err.strerror or err} ({kept}); free space or fix the "
                            "folder, then resume=true continues from the last checkpoint") from err


def csv_loggers(trainer: pl.Trainer) -> list[RunCSVLogger]:
    return [lg for lg in trainer.loggers if isinstance(lg, RunCSVLogger)]


class LastCheckpoint(pl.Callback):
    def __init__(self, path: str | Path, every_n_steps: int | None = None):
        self.path = Path(path)
        self.every_n_steps = every_n_steps
        self._csv_rows: int | None = None       # metrics.csv rows when the last checkpoint was written
        self._restored_rows: int | None = None  # ... when the checkpoint this fit resumed from was
        self._flush = False                     # the saved step's row is logged after the save: flush it

    @property
    def state_key(self) -> str:
        return f"LastCheckpoint[{self.path.name}]"

    def _save(self, trainer: pl.Trainer) -> None:
        self._csv_rows = None
        if trainer.is_global_zero:
            for lg in csv_loggers(trainer):
                lg.save()
                self._csv_rows = lg.rows()
        save_checkpoint(trainer, self.path)
        self._flush = True

    def on_train_start(self, trainer, pl_module) -> None:
        if self._restored_rows is not None and trainer.is_global_zero:
            for lg in csv_loggers(trainer):
                lg.keep_rows(self._restored_rows, trainer.global_step)
        self._restored_rows = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._flush and trainer.is_global_zero:
            for lg in csv_loggers(trainer):
                lg.save()
        self._flush = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._save(trainer)

    def state_dict(self) -> dict:  # plain types only: checkpoints load with weights_only=True
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        return {"torch": torch.get_rng_state(), "python": random.getstate(),
                "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)], "csv_rows": self._csv_rows}

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        random.setstate(state["python"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
        self._restored_rows = state.get("csv_rows")


class ResumableTrainer(pl.Trainer):
    """A Lightning Trainer whose `fit` continues from `resume_from` when that checkpoint exists.
    A checkpoint it continues from is read as weights only, whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
    says: checked first (`check_weights`: a clear error naming the file), then loaded by Lightning
    with `weights_only=True`."""

    resume_from: Path | None = None

    def fit(self, model, *args, ckpt_path=None, **kwargs):
        if ckpt_path is None and self.resume_from is not None and Path(self.resume_from).exists():
            ckpt_path = str(self.resume_from)
        if ckpt_path is not None and Path(ckpt_path).exists():
            check_weights(ckpt_path)
        kwargs["weights_only"] = True
        return super().fit(model, *args, ckpt_path=ckpt_path, **kwargs)
