"""Selection gain within size groups: the best base model of a group against a named default.

Groups are half-open size intervals in billions of parameters, [edge_i, edge_i+1). In each
group, gain = (best score - default score) / default score, where the default is the first of
the named defaults found in the group (the paper's "most common choice"); a group holding
none of them is compared with its median model instead, and says so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SIZE_EDGES = (0.0, 1.0, 3.0, 6.0, 10.0, float("inf"))


def group_name(lo: float, hi: float) -> str:
    fmt = lambda v: f"{v:g}"  # noqa: E731
    return f">={fmt(lo)}B" if hi == float("inf") else f"{fmt(lo)}-{fmt(hi)}B"


def selection_gain(scores: pd.Series, sizes: pd.Series, defaults: list[str],
                   edges=SIZE_EDGES) -> pd.DataFrame:
    edges = sorted(set(float(e) for e in edges))
    if len(edges) < 2:
        raise ValueError("size groups need at least two edges, e.g. 0,1,3,10")
    common = scores.dropna().index.intersection(sizes.dropna().index)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        members = [m for m in common if lo <= sizes[m] < hi]
        if not members:
            continue
        group = scores[members].sort_values(ascending=False)
        best = group.index[0]
        default = next((d for d in defaults if d in members), None)
        basis = "named default"
        if default is None:
            ordered = list(group.index)
            default, basis = ordered[len(ordered) // 2], "group median (no named default in the group)"
        reference = group[default]
        rows.append({"size_group": group_name(lo, hi), "models": len(members), "best": best,
                     "best_score": group[best], "default": default, "default_basis": basis,
                     "default_score": reference, "gain_abs": group[best] - reference,
                     "gain_rel": (group[best] - reference) / reference if reference else np.nan})
    return pd.DataFrame(rows)
