"""What every reward-model method shares: Bradley-Terry training and pairwise evaluation.

A method subclasses `RewardModule` and implements `score(batch)`, returning one reward per
row of `batch["input_ids"]` (the batch's chosen texts, then its rejected texts). Methods with
several parts override `components()` so parameters are counted by component.
"""
from __future__ import annotations

import time

import pytorch_lightning as pl
import torch
from torch import nn

from rm_lab.eval.metrics import PairwiseAccuracy, bradley_terry_loss
from rm_lab.eval.timing import InferenceClock


def adamw_with_warmup(parameters, lr: float, weight_decay: float = 0.0, warmup_steps: int = 0):
    """AdamW over the trainable parameters, with an optional linear warm-up per step."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise RuntimeError("nothing to train: every parameter is frozen")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if not warmup_steps:
        return optimizer
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup_steps))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class RewardModule(pl.LightningModule):
    def __init__(self, domains: list[str], lr: float = 2e-5, weight_decay: float = 0.0,
                 warmup_steps: int = 0):
        super().__init__()
        self.domains = list(domains)
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.test_accuracy = PairwiseAccuracy(self.domains)
        self.inference = InferenceClock()
        self.test_results: dict | None = None

    # -- to implement ------------------------------------------------------------------------
    def score(self, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def components(self) -> dict[str, nn.Module]:
        return {"reward_model": self}

    def adapt_datamodule(self, datamodule):
        """The datamodule this method trains on; methods that need other inputs (cached
        embeddings, say) return a wrapper around the given one."""
        return datamodule

    def run_training(self, make_trainer, datamodule) -> dict[str, float]:
        """Train, returning wall seconds by component. `make_trainer()` gives a fresh Lightning
        Trainer from the run's config (loggers and timers attached); composite methods may call
        it once per component. The default is one fit of the whole module."""
        start = time.perf_counter()
        make_trainer().fit(self, datamodule=datamodule)
        return {"reward_model": time.perf_counter() - start}

    def extra_results(self) -> dict:
        """Method-specific figures for results.json (router accuracy, expert load, ...)."""
        return {}

    # -- training -----------------------------------------------------------------------------
    @staticmethod
    def split_rewards(rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = rewards.shape[0] // 2
        return rewards[:half], rewards[half:]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        chosen, rejected = self.split_rewards(self.score(batch))
        loss = bradley_terry_loss(chosen, rejected)
        self.log("train/loss", loss, prog_bar=True, batch_size=chosen.shape[0])
        self.log("train/accuracy", (chosen > rejected).float().mean(), batch_size=chosen.shape[0])
        return loss

    def configure_optimizers(self):
        return adamw_with_warmup(self.parameters(), self.lr, self.weight_decay, self.warmup_steps)

    # -- evaluation ---------------------------------------------------------------------------
    def on_test_epoch_start(self) -> None:
        self.test_accuracy.reset()
        self.inference.reset()

    def test_step(self, batch: dict, batch_idx: int) -> None:
        start = time.perf_counter()
        rewards = self.score(batch)
        self.inference.add(time.perf_counter() - start, int(batch["input_ids"].shape[0]))
        chosen, rejected = self.split_rewards(rewards)
        self.test_accuracy.update(chosen, rejected, batch["domain"])

    def on_test_epoch_end(self) -> None:
        result = self.test_accuracy.compute()
        for name, row in result["per_domain"].items():
            self.log(f"test/accuracy/{name}", row["accuracy"])
            self.log(f"test/ties/{name}", float(row["tied"]))
        if result["average"] is not None:
            self.log("test/accuracy/average", result["average"])
            self.log("test/loss", result["loss"])
        self.test_results = result
