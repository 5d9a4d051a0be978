"""Wall-clock timing: per training epoch (a Lightning callback) and per inference input."""
from __future__ import annotations

import time

import pytorch_lightning as pl


class EpochTimer(pl.Callback):
    """Records each training epoch's wall time in seconds (`per_epoch`)."""

    def __init__(self):
        self.per_epoch: list[float] = []
        self._start = None

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        if self._start is not None:
            self.per_epoch.append(time.perf_counter() - self._start)
            self._start = None


class InferenceClock:
    """Accumulates the time spent scoring and the number of inputs (texts) scored."""

    def __init__(self):
        self.seconds = 0.0
        self.inputs = 0

    def reset(self) -> None:
        self.seconds, self.inputs = 0.0, 0

    def add(self, seconds: float, inputs: int) -> None:
        self.seconds += seconds
        self.inputs += inputs

    def summary(self) -> dict:
        return {"seconds_total": self.seconds, "inputs": self.inputs,
                "seconds_per_input": self.seconds / self.inputs if self.inputs else None}
