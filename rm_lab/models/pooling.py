"""Turn token states into one vector per sequence."""
from __future__ import annotations

import torch

POOLINGS = ("first", "last", "mean")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """first: the first token (encoders' [CLS]); last: the last non-padding token (decoders,
    right padding); mean: the mean over non-padding tokens."""
    if how == "first":
        return hidden[:, 0]
    if how == "last":
        last = attention_mask.sum(dim=1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
    if how == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {how!r}; valid: {', '.join(POOLINGS)}")
