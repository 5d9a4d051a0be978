"""Heads on a pooled encoder: the one linear head, a scalar reward model and a classifier.

`LinearHead(hidden)` is dropout then a linear layer giving one value per row (a reward);
`LinearHead(hidden, classes=n)` gives a logit per class (a router). Heads compute in fp32
even under mixed precision, so rewards are not rounded to bf16 (which would make ties). Every method's reward
and router heads are this module.
"""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.models.backbone import Backbone, RewardEncoder


class LinearHead(nn.Module):
    """Dropout, linear layer: (N, hidden) -> (N,) rewards, or (N, classes) logits."""

    def __init__(self, hidden: int, classes: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.scalar = classes is None
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden, 1 if classes is None else classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            out = self.linear(self.dropout(pooled.float()))
        return out.squeeze(-1) if self.scalar else out


class RewardModel(nn.Module):
    """Encoder, pooling, linear head -> one reward per sequence."""

    def __init__(self, backbone: Backbone, head_dropout: float = 0.0, model: nn.Module | None = None):
        super().__init__()
        self.encoder = RewardEncoder(backbone, model=model)
        self.head = LinearHead(backbone.hidden_size, dropout=head_dropout)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask, token_type_ids))


class SequenceClassifier(nn.Module):
    """Encoder, pooling, linear head -> one logit per class (the router)."""

    def __init__(self, backbone: Backbone, num_classes: int, head_dropout: float = 0.1,
                 model: nn.Module | None = None):
        super().__init__()
        self.encoder = RewardEncoder(backbone, model=model)
        self.head = LinearHead(backbone.hidden_size, num_classes, head_dropout)

    def forward(self, input_ids, attention_mask) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask))
