"""Validation each epoch and selection on it: the best epoch's weights are the ones tested."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from rm_lab.eval.best_weights import BestWeights
from rm_lab.runner.run import run, selection_callbacks

SCHEDULE = [0.7, 0.9, 0.6, 0.5]  # the validation metric of epochs 0..3: epoch 1 is the best


class Drifting(pl.LightningModule):
    """One weight that grows every step; its validation metric follows SCHEDULE."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.after_epoch: list[float] = []

    def training_step(self, batch, batch_idx):
        return -self.w  # gradient -1: SGD with lr 1 adds 1 per step

    def on_train_epoch_end(self):
        self.after_epoch.append(float(self.w))

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        self.log("val/metric", SCHEDULE[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1.0)


def _fit(callbacks, epochs=4):
    module = Drifting()
    loader = DataLoader(torch.zeros(2, 1), batch_size=1)
    trainer = pl.Trainer(max_epochs=epochs, callbacks=callbacks, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    return module, trainer


@pytest.mark.slow
def test_best_weights_come_back_at_the_end_of_the_fit():
    best = BestWeights("val/metric")
    module, _ = _fit([best])
    assert [h["value"] for h in best.history] == pytest.approx(SCHEDULE)
    assert best.best_epoch == 1 and best.best == pytest.approx(0.9)
    assert module.after_epoch[-1] == pytest.approx(8.0)  # the last epoch's weight ...
    assert float(module.w) == pytest.approx(module.after_epoch[1])  # ... replaced by the best epoch's


@pytest.mark.slow
def test_test_on_last_keeps_the_last_weights_and_early_stopping_stops():
    cfg = OmegaConf.create({"test_on": "last", "early_stopping": 1})
    selection = selection_callbacks(cfg, "val/metric", "toy")
    assert selection.callbacks[0] is selection.best and len(selection.callbacks) == 2
    module, trainer = _fit(selection.callbacks, epochs=4)
    assert trainer.current_epoch == 3  # epoch 2 did not improve on epoch 1: stopped after it
    assert float(module.w) == pytest.approx(module.after_epoch[-1])
    assert selection.best.summary()["best_epoch"] == 1 and not selection.best.summary()["restored"]
    assert selection_callbacks(cfg, None, "toy").best is None  # nothing monitored: no selection


@pytest.mark.slow
def test_a_run_validates_every_epoch_and_reports_the_selection(make_cfg):
    results = run(make_cfg("trainer.max_epochs=2", "method.lr=1e-3"))
    validation = results["validation"]
    assert validation["test_on"] == "best"
    epochs = validation["per_epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(set(e["per_domain"]) == {"hh_rlhf", "hellaswag", "oasst"} and e["n"] == 24 for e in epochs)
    best = max(range(2), key=lambda i: (epochs[i]["average"], -i))
    assert validation["best_epoch"] == best
    assert validation["best_accuracy"] == pytest.approx(epochs[best]["average"])


@pytest.mark.slow
def test_composite_methods_select_each_component_on_its_own_validation_pairs(make_cfg):
    results = run(make_cfg("method=rodos", "trainer.max_epochs=2", "dataset.max_pairs.train=8",
                           "dataset.max_pairs.test=6", "dataset.batch_size=4"))
    by_component = results["validation"]["by_component"]
    assert set(by_component) == {"router", "reward_model/hh_rlhf", "reward_model/hellaswag", "reward_model/oasst"}
    for name, selection in by_component.items():
        assert len(selection["epochs"]) == 2, name
        assert selection["monitor"] == f"val/{name}/accuracy"
        assert selection["best_epoch"] in (0, 1) and 0.0 <= selection["best_accuracy"] <= 1.0
