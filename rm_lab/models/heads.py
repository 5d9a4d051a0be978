"""Heads on a pooled encoder: the one linear head, a scalar reward model and a classifier.

`LinearHead(hidden)` is dropout then a linear layer giving one value per row (a reward);
`LinearHead(hidden, classes=n)` gives a logit per class (a router). Heads compute in fp32
even under mixed precision, so rewards are not rounded to bf16 (which would make ties). Every method's reward
and router heads are this module.

The reward head's design is the backbone's `model.head` (`rm_lab.models.backbone.HEADS`), and every
method builds its reward encoder and head through `reward_encoder()` and `reward_head()`:

- `linear`: pooled state -> dropout -> linear (DeBERTa; what runs saved without `model.head` used);
- `pooler`: first token -> the backbone's own pooler (dense, tanh; BERT's pretrained one) -> dropout
  -> linear, the head of `BertForSequenceClassification` and `RobertaForSequenceClassification`, so
  the export is exact; the pooler is already part of the backbone, so no parameter is added;
- `nobias`: pooled last token -> dropout -> linear without bias, a decoder's `score` layer
  (Bradley-Terry is blind to a constant, so the bias adds nothing).
"""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.models.backbone import Backbone, RewardEncoder


class LinearHead(nn.Module):
    """Dropout, linear layer: (N, hidden) -> (N,) rewards, or (N, classes) logits."""

    def __init__(self, hidden: int, classes: int | None = None, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.scalar = classes is None
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden, 1 if classes is None else classes, bias=bias)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            out = self.linear(self.dropout(pooled.float()))
        return out.squeeze(-1) if self.scalar else out


def reward_encoder(backbone: Backbone, model: nn.Module | None = None) -> RewardEncoder:
    """The encoder a reward head reads: through the backbone's own pooler for `model.head=pooler`;
    its rows are pairs (chosen texts, then rejected ones), so `model.share_prompt` applies."""
    return RewardEncoder(backbone, model=model, pooler=backbone.head == "pooler", pairs=True)


def reward_head(backbone: Backbone, dropout: float = 0.0) -> LinearHead:
    """The scalar reward head of `model.head` (see the module doc): without bias for `nobias`."""
    return LinearHead(backbone.hidden_size, dropout=dropout, bias=backbone.head != "nobias")


class RewardModel(nn.Module):
    """Encoder, pooling, reward head (`model.head`) -> one reward per sequence."""

    def __init__(self, backbone: Backbone, head_dropout: float = 0.0, model: nn.Module | None = None):
        super().__init__()
        self.encoder = reward_encoder(backbone, model=model)
        self.head = reward_head(backbone, head_dropout)

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
