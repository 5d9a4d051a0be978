"""Simulated preference annotations with Bradley-Terry noise.

For a pair of responses with golden rewards r1, r2 the annotator prefers the first with
probability sigmoid(beta * (r1 - r2) / std(r)), std(r) over all golden rewards of the set
(the reference code's normalisation); beta is the annotation quality (larger = cleaner),
`beta=None` a perfect annotator. Pairs are drawn within one prompt or across prompts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Annotations:
    """Index pairs into a (prompts, responses) array: first/second are (M, 2) rows of
    (prompt, response); `first_wins` the annotator's label; `prob` P(first wins)."""
    first: np.ndarray
    second: np.ndarray
    first_wins: np.ndarray
    prob: np.ndarray

    def __len__(self) -> int:
        return len(self.first_wins)

    def winners_losers(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = embeddings[self.first[:, 0], self.first[:, 1]]
        b = embeddings[self.second[:, 0], self.second[:, 1]]
        wins = self.first_wins[:, None]
        return np.where(wins, a, b), np.where(wins, b, a)

    def agreement(self, rewards: np.ndarray) -> float:
        """The fraction of labels that agree with the golden reward (ties excluded)."""
        r1 = rewards[self.first[:, 0], self.first[:, 1]]
        r2 = rewards[self.second[:, 0], self.second[:, 1]]
        keep = r1 != r2
        return float(((r1 > r2) == self.first_wins)[keep].mean()) if keep.any() else float("nan")


def sample_pairs(prompts: int, responses: int, n: int, cross_prompt: bool, rng: np.random.Generator):
    """n random pairs of distinct (prompt, response) cells: same prompt, or two prompts."""
    if cross_prompt:
        if prompts < 2:
            raise ValueError("cross-prompt pairs need at least two prompts")
        p1 = rng.integers(prompts, size=n)
        p2 = (p1 + rng.integers(1, prompts, size=n)) % prompts
        r1, r2 = rng.integers(responses, size=n), rng.integers(responses, size=n)
    else:
        if responses < 2:
            raise ValueError("same-prompt pairs need at least two responses per prompt")
        p1 = p2 = rng.integers(prompts, size=n)
        r1 = rng.integers(responses, size=n)
        r2 = (r1 + rng.integers(1, responses, size=n)) % responses
    return np.stack([p1, r1], 1), np.stack([p2, r2], 1)


def annotate(rewards: np.ndarray, n_pairs: int, beta: float | None, cross_prompt: bool = False,
             rng: np.random.Generator | int = 0) -> Annotations:
    """Draw `n_pairs` pairs from a (prompts, responses) golden-reward array and label them."""
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    if beta is not None and beta < 0:
        raise ValueError(f"annotation quality beta must be >= 0 (or null for a perfect annotator), got {beta}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    first, second = sample_pairs(*rewards.shape, n_pairs, cross_prompt, rng)
    delta = rewards[first[:, 0], first[:, 1]] - rewards[second[:, 0], second[:, 1]]
    if beta is None:
        prob = np.where(delta > 0, 1.0, np.where(delta < 0, 0.0, 0.5))
    else:
        prob = 1.0 / (1.0 + np.exp(-beta * delta / (np.std(rewards) + 1e-8)))
    wins = rng.random(n_pairs) < prob
    return Annotations(first, second, wins, prob)
