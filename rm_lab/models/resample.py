"""Which training pairs each member of a head ensemble learns from.

`member_weights(resample, n, k, seed)` gives a (k, n) tensor of per-pair weights, one row per
head, used to weight each head's pair losses:

- `bootstrap`: head i trains on a bootstrap resample of the n pairs (drawn with replacement,
  seed `seed * 1000 + 500 + i`); a weight counts how often a pair was drawn.
- `split`: head i trains on a random 80% of the pairs drawn without replacement with seed
  42 + i, the reference code's `train_test_split(test_size=0.2, random_state=42 + i)`
  (`split_indices`); weights are 1 on the subset, 0 elsewhere.
- `none`: every head trains on every pair (heads differ by their initial weights only).

A single head (k = 1) always trains on every pair.
"""
from __future__ import annotations

import numpy as np
import torch

RESAMPLES = ("bootstrap", "split", "none")
SPLIT_SEED = 42        # member i of a `split` ensemble draws its 80% with seed SPLIT_SEED + i


def split_indices(n: int, member: int) -> np.ndarray:
    """The floor(0.8 n) distinct pairs member `member` of a `split` ensemble trains on: the
    training part of sklearn's `train_test_split(range(n), test_size=0.2, random_state=42 + member)`,
    a permutation from `np.random.RandomState(42 + member)` less its first ceil(0.2 n) entries."""
    held_out = -(-n // 5)  # ceil(0.2 n) in integers
    return np.random.RandomState(SPLIT_SEED + member).permutation(n)[held_out:]


def member_weights(resample: str, n: int, k: int, seed: int) -> torch.Tensor:
    """(k, n) per-pair weights of each ensemble member's training loss (see the module doc)."""
    if resample not in RESAMPLES:
        raise ValueError(f"method.resample must be one of {list(RESAMPLES)}, got {resample!r}")
    if k == 1 or resample == "none" or n == 0:
        return torch.ones(k, n)
    rows = []
    for i in range(k):
        if resample == "bootstrap":
            g = torch.Generator().manual_seed(seed * 1000 + 500 + i)
            rows.append(torch.bincount(torch.randint(n, (n,), generator=g), minlength=n).float())
        else:
            row = torch.zeros(n)
            row[torch.from_numpy(split_indices(n, i))] = 1.0
            rows.append(row)
    return torch.stack(rows)
