"""Golden-reward metrics of a reward model's scores on (prompts, responses) arrays."""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

BEST_OF_N = (1, 2, 5, 10, 30, 50, 100, 300, 500)


def best_of_n(scores: np.ndarray, golden: np.ndarray, ns=BEST_OF_N, repeats: int = 100,
              seed: int = 0) -> dict[int, dict[str, float]]:
    """For each N (up to the responses available): draw N responses per prompt (one random
    subset per repeat, as the reference code), pick the highest-scored, average its golden
    reward over prompts; report mean and std over repeats and the gain over N=1."""
    prompts, responses = golden.shape
    ns = [n for n in ns if 1 <= n <= responses]
    rng = np.random.default_rng(seed)
    rows = np.arange(prompts)
    values = np.empty((repeats, len(ns)))
    for rep in range(repeats):
        order = rng.permutation(responses)
        for j, n in enumerate(ns):
            subset = order[:n]
            pick = subset[np.argmax(scores[:, subset], axis=1)]
            values[rep, j] = golden[rows, pick].mean()
    base = values[:, 0] if ns and ns[0] == 1 else np.full(repeats, np.nan)
    return {n: {"mean": float(values[:, j].mean()), "std": float(values[:, j].std()),
                "gain": float((values[:, j] - base).mean())} for j, n in enumerate(ns)}


def spearman_per_prompt(scores: np.ndarray, golden: np.ndarray) -> float:
    """Spearman correlation of scores and golden rewards within each prompt, averaged over
    prompts (prompts where either is constant are left out)."""
    rs, rg = rankdata(scores, axis=1), rankdata(golden, axis=1)
    rs = rs - rs.mean(1, keepdims=True)
    rg = rg - rg.mean(1, keepdims=True)
    denom = np.sqrt((rs ** 2).sum(1) * (rg ** 2).sum(1))
    keep = denom > 0
    return float(((rs * rg).sum(1)[keep] / denom[keep]).mean()) if keep.any() else float("nan")


def pairwise_accuracy(scores: np.ndarray, golden: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    """Strict accuracy on index pairs: the score order matches the golden order (score ties
    count as wrong; golden ties are left out)."""
    s = scores[first[:, 0], first[:, 1]] - scores[second[:, 0], second[:, 1]]
    g = golden[first[:, 0], first[:, 1]] - golden[second[:, 0], second[:, 1]]
    keep = g != 0
    return float((np.sign(s) == np.sign(g))[keep].mean()) if keep.any() else float("nan")
