"""Training one component of a composite method in its own Lightning fit.

`RewardFit` trains a reward function with the Bradley-Terry step every method uses,
`RouterFit` a domain classifier over prompts with cross entropy. Each fits on the data's
`subset(domains)` (the training and validation pairs of some domains) and validates on its
own validation pairs each epoch (`monitor`: pairwise accuracy, or the router's accuracy), so
it is selected on them. The fitted modules are shared with the composite, so its weights change.
A reward fit takes the method's loss options (`center_rewards_coefficient`, `use_margin`; the
composite passes its own); every fit logs its gradients' total L2 norm
(`train/<component>/grad_norm`).
"""
from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from rm_lab.data.batch import Batch, split_rewards
from rm_lab.eval.metrics import Counts
from rm_lab.methods.base import (
    PairwiseLossOptions,
    log_grad_norm,
    pairwise_step,
    sync_counters,
)
from rm_lab.methods.optim import build_optimizers


class _ComponentFit(PairwiseLossOptions, pl.LightningModule):
    monitor = "val/accuracy"
    grad_norm_name = "train/grad_norm"

    def __init__(self, net: nn.Module, lr: float, weight_decay: float = 0.0, warmup_steps: int = 0,
                 center_rewards_coefficient: float | None = None, use_margin: bool = False):
        super().__init__()
        self.net = net
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.set_loss_options(center_rewards_coefficient, use_margin)
        self.val_counts = Counts(2)  # right, seen

    def configure_optimizers(self):
        return build_optimizers(self, self.net.parameters(), self.lr, self.weight_decay, self.warmup_steps)

    def on_before_optimizer_step(self, optimizer) -> None:
        log_grad_norm(self, self.grad_norm_name)

    def on_validation_epoch_start(self) -> None:
        self.val_counts.reset()

    def count(self, right: torch.Tensor) -> None:
        self.val_counts.value += torch.tensor([float(right.sum()), float(right.numel())], dtype=torch.float64)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        sync_counters(self, {"validation": self.val_counts})
        right, seen = self.val_counts.value.tolist()
        if seen:
            self.log(self.monitor, right / seen, prog_bar=True)


class RewardFit(_ComponentFit):
    """Bradley-Terry training of `score(batch) -> rewards` (chosen rows, then rejected rows)."""

    def __init__(self, name: str, net: nn.Module, score: Callable[[Batch], torch.Tensor], **optim):
        super().__init__(net, **optim)
        self.component, self.score = name, score
        self.monitor = f"val/{name}/accuracy"
        self.grad_norm_name = f"train/{name}/grad_norm"

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return pairwise_step(self, self.score(batch), prefix=f"train/{self.component}", margin=batch.get("margin"))

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        chosen, rejected = split_rewards(self.score(batch))
        self.count(chosen > rejected)  # strict: ties are not won


class RouterFit(_ComponentFit):
    """Cross-entropy training of `logits(batch) -> [pairs, domains]` against the gold domain."""

    monitor = "val/router/accuracy"
    grad_norm_name = "train/router/grad_norm"

    def __init__(self, net: nn.Module, logits: Callable[[Batch], torch.Tensor], **optim):
        super().__init__(net, **optim)
        self.logits = logits

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        logits = self.logits(batch)
        loss = F.cross_entropy(logits.float(), batch["domain"])
        n = batch["domain"].shape[0]
        self.log("train/router/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/router/accuracy", (logits.argmax(-1) == batch["domain"]).float().mean(), batch_size=n)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.count(self.logits(batch).argmax(-1) == batch["domain"])
