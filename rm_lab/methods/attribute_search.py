"""The weight search of an attribute regression: which weighting of predicted attributes ranks
validation pairs best.

A reward is w . attributes, so only w's direction matters. The candidates are every vector on
a grid of `step` whose absolute values sum to 1 (the simplex with signs: a weight may be
negative, as HelpSteer2's published weights penalise verbosity), or, with `nonnegative`, the
plain simplex (w >= 0, sum w = 1). Each candidate is scored by validation pairwise accuracy
(strict: w . (chosen - rejected) > 0), the unweighted mean over domains as the run's validation
metric is; ties between candidates go to the lower Bradley-Terry loss -log sigmoid(w . d), then
to the first on the grid. With step 0.1 and five attributes: 1,001 simplex points, 14,002 signed
vectors.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def compositions(total: int, parts: int):
    """Every tuple of `parts` non-negative integers summing to `total`."""
    for cuts in itertools.combinations(range(total + parts - 1), parts - 1):
        edges = (-1, *cuts, total + parts - 1)
        yield tuple(b - a - 1 for a, b in itertools.pairwise(edges))


def weight_grid(parts: int, step: float = 0.1, nonnegative: bool = False) -> torch.Tensor:
    """(M, parts) candidate weight vectors (see the module doc), in a fixed order."""
    steps = round(1.0 / step)
    if parts < 1 or steps < 1 or abs(steps * step - 1.0) > 1e-9:
        raise ValueError(f"the weight grid needs at least one attribute and a step that divides 1 "
                         f"(0.1, 0.125, 0.25, ...), got {parts} attributes and step {step}")
    out = []
    for point in compositions(steps, parts):
        nonzero = [i for i, v in enumerate(point) if v]
        for signs in ([()] if nonnegative else itertools.product((1, -1), repeat=len(nonzero))):
            vector = list(point)
            for i, sign in zip(nonzero, signs):
                vector[i] *= sign
            out.append(vector)
    return torch.tensor(out, dtype=torch.float64) / steps


@dataclass
class WeightSearch:
    weights: torch.Tensor   # (K,) the chosen weight vector
    accuracy: float         # its validation accuracy (mean over domains with pairs)
    loss: float             # its validation Bradley-Terry loss
    candidates: int         # how many vectors were scored
    tied_best: int          # how many reached the best accuracy


def search_weights(diffs: torch.Tensor, domains: torch.Tensor, step: float = 0.1, nonnegative: bool = False,
                   chunk: int = 2048) -> WeightSearch:
    """The best weight vector for pairs whose predicted attributes differ by `diffs` (N, K)
    (chosen minus rejected), `domains` (N,) their domain indices."""
    if diffs.ndim != 2 or not len(diffs):
        raise ValueError("the weight search needs validation pairs: give the dataset validation pairs "
                         "(e.g. dataset.domains.<domain>.validation_fraction=0.1)")
    diffs = diffs.detach().to(torch.float64).cpu()
    grid = weight_grid(diffs.shape[1], step, nonnegative)
    present, index = torch.unique(domains.detach().cpu(), return_inverse=True)
    counts = torch.bincount(index, minlength=len(present)).to(torch.float64)
    accuracy, loss = [], []
    for start in range(0, len(grid), chunk):
        margins = diffs @ grid[start:start + chunk].T                      # (N, m)
        won = torch.zeros(len(present), margins.shape[1], dtype=torch.float64)
        won.index_add_(0, index, (margins > 0).to(torch.float64))
        accuracy.append((won / counts[:, None]).mean(0))
        loss.append(F.softplus(-margins).mean(0))
    accuracy, loss = torch.cat(accuracy), torch.cat(loss)
    best = accuracy.max()
    tied = torch.nonzero(accuracy >= best - 1e-12).squeeze(1)
    pick = tied[torch.argmin(loss[tied])]
    return WeightSearch(grid[pick].to(torch.float32), float(accuracy[pick]), float(loss[pick]), len(grid), len(tied))
