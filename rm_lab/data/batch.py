"""The batches a datamodule hands to a method.

A pair batch of B pairs holds 2B texts: rows 0..B-1 are the chosen texts, rows B..2B-1 the
rejected ones in the same order, so a method scores both in one forward pass and splits the
rewards in half (`split_rewards`).
"""
from __future__ import annotations

from typing import TypedDict

import torch


class _PairBatchRequired(TypedDict):
    input_ids: torch.Tensor              # (2B, L) chosen rows, then rejected rows; right-padded
    attention_mask: torch.Tensor         # (2B, L) 1 on real tokens
    prompt_input_ids: torch.Tensor       # (B, Lp) the prompts alone (for routers)
    prompt_attention_mask: torch.Tensor  # (B, Lp)
    domain: torch.Tensor                 # (B,) gold domain index of each pair
    ids: list[str]                       # (B,) pair ids


class PairBatch(_PairBatchRequired, total=False):
    token_type_ids: torch.Tensor         # (2B, L) where the tokenizer gives segment ids


class VectorBatch(TypedDict):
    embeddings: torch.Tensor             # (2B, dim) chosen vectors, then rejected vectors
    domain: torch.Tensor                 # (B,)
    index: torch.Tensor                  # (B,) each pair's row in its split (bootstrap weights)
    ids: list[str]                       # (B,)


def split_rewards(rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 2B) rewards of a batch -> (chosen (..., B), rejected (..., B))."""
    half = rewards.shape[-1] // 2
    return rewards[..., :half], rewards[..., half:]


Batch = PairBatch | VectorBatch
