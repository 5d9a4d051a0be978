"""Checkpoints a killed run resumes from.

`LastCheckpoint(path, every_n_steps)` writes a full Lightning checkpoint (weights, optimizer,
loops, callbacks) to `path` (`RunDir.last_checkpoint(part)`) every N training steps and at the
end of every epoch, replacing the previous one atomically, so a kill at any moment leaves a
whole checkpoint. It also carries the random number generators' states, so a resumed fit draws
the same dropout masks as an uninterrupted one. `ResumableTrainer.fit` continues from `resume_from` when that file exists;
the training loaders (`rm_lab.data.loaders.seeded_loader`) restore their epoch's order and skip
the batches already seen, so a resumed run ends where an uninterrupted one does. A checkpoint is
only ever read as weights (rm_lab/core/safe_weights.py).
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from rm_lab.core.safe_weights import check_weights


class LastCheckpoint(pl.Callback):
    def __init__(self, path: str | Path, every_n_steps: int | None = None):
        self.path = Path(path)
        self.every_n_steps = every_n_steps

    @property
    def state_key(self) -> str:
        return f"LastCheckpoint[{self.path.name}]"

    def _save(self, trainer: pl.Trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)  # every process calls it; the first one writes
        if trainer.is_global_zero:
            os.replace(tmp, self.path)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._save(trainer)

    def state_dict(self) -> dict:  # plain types only: checkpoints load with weights_only=True
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        return {"torch": torch.get_rng_state(), "python": random.getstate(),
                "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        random.setstate(state["python"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))


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
