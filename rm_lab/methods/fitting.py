"""Training one component of a composite method in its own Lightning fit.

`RewardFit` trains a reward function with the Bradley-Terry step every method uses,
`RouterFit` a domain classifier over prompts with cross entropy. Each fits on the data's
`subset(domains)` (the training pairs of some domains). The fitted modules are shared with
the composite, so its weights change.
"""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from rm_lab.data.batch import Batch
from rm_lab.methods.base import adamw_with_warmup, pairwise_step


class _ComponentFit(pl.LightningModule):
    def __init__(self, net: nn.Module, lr: float, weight_decay: float = 0.0, warmup_steps: int = 0):
        super().__init__()
        self.net = net
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps

    def configure_optimizers(self):
        return adamw_with_warmup(self.net.parameters(), self.lr, self.weight_decay, self.warmup_steps)


class RewardFit(_ComponentFit):
    """Bradley-Terry training of `score(batch) -> rewards` (chosen rows, then rejected rows)."""

    def __init__(self, name: str, net: nn.Module, score: Callable[[Batch], torch.Tensor], **optim):
        super().__init__(net, **optim)
        self.component, self.score = name, score

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return pairwise_step(self, self.score(batch), prefix=f"train/{self.component}")


class RouterFit(_ComponentFit):
    """Cross-entropy training of `logits(batch) -> [pairs, domains]` against the gold domain."""

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
