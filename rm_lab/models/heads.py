"""Small models built on a pooled encoder: a scalar reward model and a sequence classifier."""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.models.backbone import Backbone, RewardEncoder


class RewardModel(nn.Module):
    """Encoder, pooling, dropout, linear head -> one reward per sequence."""

    def __init__(self, backbone: Backbone, head_dropout: float = 0.0, model: nn.Module | None = None):
        super().__init__()
        self.encoder = RewardEncoder(backbone, model=model)
        self.dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(backbone.hidden_size, 1)

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        pooled = self.encoder(input_ids, attention_mask, token_type_ids)
        return self.head(self.dropout(pooled)).squeeze(-1)


class SequenceClassifier(nn.Module):
    """Encoder, pooling, dropout, linear head -> one logit per class (the router)."""

    def __init__(self, backbone: Backbone, num_classes: int, head_dropout: float = 0.1,
                 model: nn.Module | None = None):
        super().__init__()
        self.encoder = RewardEncoder(backbone, model=model)
        self.dropout = nn.Dropout(head_dropout)
        self.head = nn.Linear(backbone.hidden_size, num_classes)

    def forward(self, input_ids, attention_mask) -> torch.Tensor:
        return self.head(self.dropout(self.encoder(input_ids, attention_mask)))
