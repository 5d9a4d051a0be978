"""Baseline: one fully fine-tuned reward model (backbone, pooling, linear reward head).

    python -m rm_lab method=baseline model=deberta-v3-base experiment=paper_baseline
"""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.data.batch import PairBatch
from rm_lab.methods.base import RewardModule
from rm_lab.methods.capabilities import Capabilities, PaperRow
from rm_lab.models.backbone import Backbone
from rm_lab.models.heads import RewardModel


class BaselineRM(RewardModule):
    label = "Baseline"
    capabilities = Capabilities(
        components=("backbone", "head"), tables=("2", "3", "6", "7"), order=10, reference=True,
        paper_rows=(PaperRow("deberta-v3-large", 435), PaperRow("deberta-v3-base", 185)))

    def __init__(self, backbone: Backbone, domains: list[str], lr: float = 2e-5,
                 weight_decay: float = 0.0, warmup_steps: int = 0, head_dropout: float = 0.0):
        super().__init__(domains, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        self.model = RewardModel(backbone, head_dropout)

    def score(self, batch: PairBatch) -> torch.Tensor:
        return self.model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    def components(self) -> dict[str, nn.Module]:
        return {"backbone": self.model.encoder, "head": self.model.head}
