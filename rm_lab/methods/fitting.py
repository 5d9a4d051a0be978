"""Training one component of a composite method in its own Lightning fit.

`RewardFit` trains a reward function with the Bradley-Terry loss, `RouterFit` a domain
classifier over prompts with cross entropy; `DomainSubset` feeds either the training pairs of
some domains only. The fitted modules are shared with the composite, so its weights change.
"""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from rm_lab.eval.metrics import bradley_terry_loss
from rm_lab.methods.base import adamw_with_warmup


class DomainSubset(pl.LightningDataModule):
    """The training pairs of the given domain indices, batched like the parent datamodule."""

    def __init__(self, parent, domain_indices: list[int]):
        super().__init__()
        self.parent = parent
        wanted = set(domain_indices)
        table = parent.tokenized["train"]
        rows = [i for i, d in enumerate(table["domain_idx"]) if d in wanted]
        self.table = table.select(rows)

    def __len__(self) -> int:
        return len(self.table)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(torch.initial_seed() % 2**63)
        return DataLoader(self.table, batch_size=self.parent.batch_size, shuffle=True,
                          collate_fn=self.parent.collate, num_workers=self.parent.num_workers,
                          generator=generator)


class _ComponentFit(pl.LightningModule):
    def __init__(self, net: nn.Module, lr: float, weight_decay: float = 0.0, warmup_steps: int = 0):
        super().__init__()
        self.net = net
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps

    def configure_optimizers(self):
        return adamw_with_warmup(self.net.parameters(), self.lr, self.weight_decay, self.warmup_steps)


class RewardFit(_ComponentFit):
    """Bradley-Terry training of `score(batch) -> rewards` (chosen rows, then rejected rows)."""

    def __init__(self, name: str, net: nn.Module, score: Callable[[dict], torch.Tensor], **optim):
        super().__init__(net, **optim)
        self.component, self.score = name, score

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        rewards = self.score(batch)
        half = rewards.shape[0] // 2
        chosen, rejected = rewards[:half], rewards[half:]
        loss = bradley_terry_loss(chosen, rejected)
        self.log(f"train/{self.component}/loss", loss, prog_bar=True, batch_size=half)
        self.log(f"train/{self.component}/accuracy", (chosen > rejected).float().mean(), batch_size=half)
        return loss


class RouterFit(_ComponentFit):
    """Cross-entropy training of `logits(batch) -> [pairs, domains]` against the gold domain."""

    def __init__(self, net: nn.Module, logits: Callable[[dict], torch.Tensor], **optim):
        super().__init__(net, **optim)
        self.logits = logits

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self.logits(batch)
        loss = F.cross_entropy(logits, batch["domain"])
        n = batch["domain"].shape[0]
        self.log("train/router/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/router/accuracy", (logits.argmax(-1) == batch["domain"]).float().mean(), batch_size=n)
        return loss
