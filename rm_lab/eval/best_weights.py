"""Model selection on validation data: a Lightning callback per fit.

`BestWeights(monitor)` reads the fit's validation metric after every validation pass (one per
epoch), keeps the history and a CPU copy of the trainable weights at the best value, and, with
`restore=True` (`test_on: best`), puts those weights back when the fit ends, so the test set
is scored with the epoch that validated best; the copy is dropped then (a composite's parts
would otherwise each keep one). Composite methods get one per component, each
selected on its own validation data.

    trainer = Trainer(callbacks=[BestWeights("val/accuracy/average")], ...)
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch


class BestWeights(pl.Callback):
    def __init__(self, monitor: str, restore: bool = True, component: str | None = None):
        self.monitor, self.restore, self.component = monitor, restore, component
        self.history: list[dict] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._weights: dict[str, torch.Tensor] | None = None
        self.restored = False

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking:
            return
        value, epoch = float(value), int(trainer.current_epoch)
        self.history.append({"epoch": epoch, "value": value})
        if self.best is None or value > self.best:  # the first epoch wins ties
            self.best, self.best_epoch = value, epoch
            self._weights = {name: p.detach().to("cpu", copy=True)
                             for name, p in module.named_parameters() if p.requires_grad}

    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        weights, self._weights = self._weights, None  # a finished fit's copy is not kept
        if not (self.restore and weights):
            return
        params = dict(module.named_parameters())
        with torch.no_grad():
            for name, saved in weights.items():
                params[name].copy_(saved.to(params[name].device))
        self.restored = True

    @property
    def state_key(self) -> str:
        return f"BestWeights[{self.monitor}]"

    def state_dict(self) -> dict:  # kept in checkpoints: a resumed fit still knows its best epoch
        return {"history": self.history, "best": self.best, "best_epoch": self.best_epoch, "weights": self._weights}

    def load_state_dict(self, state: dict) -> None:
        self.history, self.best = list(state["history"]), state["best"]
        self.best_epoch, self._weights = state["best_epoch"], state["weights"]

    def summary(self) -> dict:
        return {"monitor": self.monitor, "epochs": self.history, "best_epoch": self.best_epoch,
                "best_accuracy": self.best, "restored": self.restored}
