"""A synthetic testbed: random embeddings with a known nonlinear golden reward.

Each response vector is its prompt's vector plus its own variation; the golden reward is a
fixed random function of the vector, r(x) = a . tanh(W x) + 0.5 (c . x)^2, the same for every
split (it depends on `reward_seed` only). Everything it makes is labelled "synthetic".
"""
from __future__ import annotations

import numpy as np

from rm_lab.studies.embedding.golden import GoldenSet


def golden_reward(x: np.ndarray, reward_seed: int = 0, width: int = 16) -> np.ndarray:
    """x (..., dim) -> the testbed's golden reward (...)."""
    dim = x.shape[-1]
    rng = np.random.default_rng(reward_seed)
    w = rng.normal(size=(dim, width)) / np.sqrt(dim)
    a = rng.normal(size=width)
    c = rng.normal(size=dim) / np.sqrt(dim)
    return np.tanh(x @ w) @ a + 0.5 * (x @ c) ** 2


def synthetic_testbed(prompts: int, responses: int, dim: int = 32, seed: int = 0, reward_seed: int = 0,
                      response_spread: float = 1.0, split: str = "train") -> GoldenSet:
    if min(prompts, responses, dim) < 1:
        raise ValueError(f"the synthetic testbed needs prompts, responses and dim >= 1; got {prompts}, {responses}, {dim}")
    rng = np.random.default_rng(seed)
    prompt = rng.normal(size=(prompts, 1, dim))
    variation = response_spread * rng.normal(size=(prompts, responses, dim))
    x = (prompt + variation) / np.sqrt(1.0 + response_spread ** 2)
    return GoldenSet(x.astype(np.float32), golden_reward(x, reward_seed), source="synthetic",
                     name=f"synthetic_{split}",
                     meta={"seed": seed, "reward_seed": reward_seed, "response_spread": response_spread})
