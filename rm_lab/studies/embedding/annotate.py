"""Simulated preference annotations with Bradley-Terry noise.

For a pair of responses with golden rewards r1, r2 the annotator prefers the first with
probability sigmoid(beta * (r1 - r2) / std(r)), std(r) over all golden rewards of the set
(the reference code's normalisation); beta is the annotation quality (larger = cleaner),
`beta=None` a perfect annotator.

Two ways to draw the pairs (`annotate(..., n_pairs=...)`):
- a count N: N pairs drawn over the prompts with replacement (a prompt may be drawn several
  times, a pair twice), within one prompt or, with `cross_prompt`, across two prompts;
- `"per_prompt"` (the reference code's `pair_annotate`): for every prompt, min(k, R(R-1)/2)
  distinct unordered pairs of its R responses (k = `pairs_per_prompt`, 10 in the reference),
  drawn without replacement, each shown in a random order.
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


PER_PROMPT = "per_prompt"
KEYS_PER_CHUNK = 1 << 22  # random keys drawn at once by sample_pairs_per_prompt


def sample_pairs_per_prompt(prompts: int, responses: int, per_prompt: int, rng: np.random.Generator):
    """For every prompt, min(per_prompt, R(R-1)/2) distinct unordered pairs of two different
    responses, without replacement, each in a random order (first/second rows, prompt-major)."""
    if responses < 2:
        raise ValueError("per-prompt pairs need at least two responses per prompt")
    if per_prompt < 1:
        raise ValueError(f"annotation.pairs_per_prompt must be >= 1, got {per_prompt}")
    lo, hi = np.triu_indices(responses, 1)  # every unordered pair {i, j}, i < j
    m = min(per_prompt, len(lo))
    picks = np.empty((prompts, m), dtype=np.int64)
    step = max(1, KEYS_PER_CHUNK // len(lo))
    for start in range(0, prompts, step):  # the m smallest of uniform keys: a uniform m-subset
        keys = rng.random((min(step, prompts - start), len(lo)))
        picks[start:start + len(keys)] = np.argpartition(keys, m - 1, axis=1)[:, :m] if m < len(lo) else \
            np.argsort(keys, axis=1)
    swap = rng.random((prompts, m)) < 0.5
    r1, r2 = np.where(swap, hi[picks], lo[picks]).ravel(), np.where(swap, lo[picks], hi[picks]).ravel()
    p = np.repeat(np.arange(prompts), m)
    return np.stack([p, r1], 1), np.stack([p, r2], 1)


def annotate(rewards: np.ndarray, n_pairs: int | str, beta: float | None, cross_prompt: bool = False,
             rng: np.random.Generator | int = 0, pairs_per_prompt: int = 10) -> Annotations:
    """Draw pairs from a (prompts, responses) golden-reward array and label them: `n_pairs`
    pairs over the prompts, or, with n_pairs="per_prompt", `pairs_per_prompt` distinct pairs
    of each prompt's responses (see the module doc)."""
    if beta is not None and beta < 0:
        raise ValueError(f"annotation quality beta must be >= 0 (or null for a perfect annotator), got {beta}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    if isinstance(n_pairs, str):
        if n_pairs != PER_PROMPT:
            raise ValueError(f"annotation.pairs must be a number of pairs or {PER_PROMPT!r}, got {n_pairs!r}")
        if cross_prompt:
            raise ValueError("annotation.pairs=per_prompt pairs the responses of one prompt: set "
                             "annotation.cross_prompt=false, or annotation.pairs=<count> for cross-prompt pairs")
        first, second = sample_pairs_per_prompt(*rewards.shape, pairs_per_prompt, rng)
    else:
        if n_pairs < 1:
            raise ValueError(f"annotation.pairs must be >= 1 (or {PER_PROMPT!r}), got {n_pairs}")
        first, second = sample_pairs(*rewards.shape, n_pairs, cross_prompt, rng)
    delta = rewards[first[:, 0], first[:, 1]] - rewards[second[:, 0], second[:, 1]]
    if beta is None:
        prob = np.where(delta > 0, 1.0, np.where(delta < 0, 0.0, 0.5))
    else:
        prob = 1.0 / (1.0 + np.exp(-beta * delta / (np.std(rewards) + 1e-8)))
    wins = rng.random(len(prob)) < prob
    return Annotations(first, second, wins, prob)
