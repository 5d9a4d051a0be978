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
    margin: torch.Tensor                 # (B,) float: each pair's margin (`Pair.margin`), NaN where a pair
                                         # has none; present when some pair of the batch has one
    attributes: torch.Tensor             # (2B, K) float: each text's attribute ratings (`Pair.attributes`), chosen
                                         # rows then rejected rows, NaN where a pair has none; present when some
                                         # pair of the batch has them


class VectorBatch(TypedDict):
    embeddings: torch.Tensor             # (2B, dim) chosen vectors, then rejected vectors
    domain: torch.Tensor                 # (B,)
    index: torch.Tensor                  # (B,) each pair's row in its split (bootstrap weights)
    ids: list[str]                       # (B,)


def pad(seqs: list[list[int]], value: int, multiple: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (N, longest, rounded up to a multiple of `multiple` when given: tensor
    cores want multiples of 8) and their attention mask."""
    length = max(max((len(s) for s in seqs), default=1), 1)
    if multiple:
        length = -(-length // multiple) * multiple
    ids = torch.full((len(seqs), length), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


def pair_batch(chosen: list[list[int]], rejected: list[list[int]], prompts: list[list[int]], pad_id: int,
               domain: list[int], ids: list[str], chosen_types: list[list[int]] | None = None,
               rejected_types: list[list[int]] | None = None,
               margins: list[float | None] | None = None, pad_to_multiple_of: int | None = None,
               attributes: list | None = None) -> PairBatch:
    """The one way token ids become a `PairBatch` (training, evaluation and scoring). `margins`:
    each pair's margin or None; the batch gets a `margin` tensor (None -> NaN) when any is set.
    `pad_to_multiple_of`: the texts' padded length rounded up to a multiple of it. `attributes`:
    each pair's (chosen ratings, rejected ratings) or None; the batch gets an `attributes` tensor
    (2B, K) (None -> NaN) when any is set."""
    input_ids, mask = pad(chosen + rejected, pad_id, pad_to_multiple_of)
    prompt_ids, prompt_mask = pad(prompts, pad_id)
    batch: PairBatch = {"input_ids": input_ids, "attention_mask": mask, "prompt_input_ids": prompt_ids,
                        "prompt_attention_mask": prompt_mask, "domain": torch.tensor(domain, dtype=torch.long),
                        "ids": list(ids)}
    if chosen_types is not None and rejected_types is not None:
        types, _ = pad(chosen_types + rejected_types, 0)
        batch["token_type_ids"] = types[:, : input_ids.shape[1]]
    if margins is not None and any(m is not None for m in margins):
        batch["margin"] = torch.tensor([float("nan") if m is None else float(m) for m in margins],
                                       dtype=torch.float32)
    if attributes is not None and any(a is not None for a in attributes):
        batch["attributes"] = attribute_rows(attributes)
    return batch


def attribute_rows(attributes: list) -> torch.Tensor:
    """Pairs' (chosen ratings, rejected ratings), None where a pair has none -> (2B, K): the chosen
    texts' ratings, then the rejected texts', NaN rows for pairs without ratings."""
    width = len(next(a for a in attributes if a is not None)[0])
    rows = torch.full((2, len(attributes), width), float("nan"), dtype=torch.float32)
    for i, pair in enumerate(attributes):
        if pair is not None:
            rows[:, i] = torch.tensor([list(side) for side in pair], dtype=torch.float32)
    return rows.reshape(2 * len(attributes), width)


def select_pairs(batch: dict, index: list[int]) -> dict:
    """The sub-batch of the given pairs (chosen and rejected rows kept in step), without the
    padding columns no kept row needs."""
    pairs = len(batch["ids"])
    rows = torch.tensor(list(index) + [i + pairs for i in index], dtype=torch.long)
    picked = torch.tensor(list(index), dtype=torch.long)
    out = {}
    for key, value in batch.items():
        if key == "ids":
            out[key] = [value[i] for i in index]
        elif key in TEXT_ROWS:
            out[key] = value[rows.to(value.device)]
        elif torch.is_tensor(value):
            out[key] = value[picked.to(value.device)]
        else:
            out[key] = value
    _trim(out, "attention_mask", ("input_ids", "attention_mask", "token_type_ids"))
    _trim(out, "prompt_attention_mask", ("prompt_input_ids", "prompt_attention_mask"))
    return out


TEXT_ROWS = ("input_ids", "attention_mask", "token_type_ids", "embeddings", "attributes")  # 2B rows: chosen, rejected


def _trim(batch: dict, mask_key: str, keys: tuple[str, ...]) -> None:
    mask = batch.get(mask_key)
    if mask is None:
        return
    length = max(int(mask.sum(1).max()), 1)
    for key in keys:
        if key in batch:
            batch[key] = batch[key][:, :length]


def split_rewards(rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 2B) rewards of a batch -> (chosen (..., B), rejected (..., B))."""
    half = rewards.shape[-1] // 2
    return rewards[..., :half], rewards[..., half:]


Batch = PairBatch | VectorBatch
