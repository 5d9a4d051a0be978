"""Correlations with p-values and top-k coverage.

Pearson's r and Spearman's rho come from scipy.stats; their p-values are the two-sided t-tests
scipy computes (t = r * sqrt((n - 2) / (1 - r^2)) with n - 2 degrees of freedom). Rows missing
either value are left out pairwise, and n says how many remained.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def correlations(features: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """One row per feature: n, pearson_r, pearson_p, spearman_rho, spearman_p (sorted by |rho|)."""
    rows = []
    for column in features.columns:
        both = pd.concat([features[column], target], axis=1, join="inner").dropna()
        x, y = both.iloc[:, 0].to_numpy(float), both.iloc[:, 1].to_numpy(float)
        row = {"feature": column, "n": len(both), "pearson_r": np.nan, "pearson_p": np.nan,
               "spearman_rho": np.nan, "spearman_p": np.nan}
        if len(both) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            pearson = stats.pearsonr(x, y)
            spearman = stats.spearmanr(x, y)
            row.update(pearson_r=float(pearson.statistic), pearson_p=float(pearson.pvalue),
                       spearman_rho=float(spearman.statistic), spearman_p=float(spearman.pvalue))
        rows.append(row)
    table = pd.DataFrame(rows, columns=["feature", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"])
    order = table["spearman_rho"].abs().fillna(-1).sort_values(ascending=False).index
    return table.loc[order].reset_index(drop=True)


def top_k(scores: pd.Series, k: int) -> set:
    """The k best-scored names (ties broken by name, so the result is deterministic)."""
    clean = scores.dropna()
    ordered = sorted(clean.index, key=lambda name: (-clean[name], str(name)))
    return set(ordered[:k])


def top_k_coverage(predicted: pd.Series, actual: pd.Series, k: int) -> float:
    """|top-k by `predicted` and top-k by `actual`| / k, over the models both score."""
    common = predicted.dropna().index.intersection(actual.dropna().index)
    if k < 1 or k > len(common):
        raise ValueError(f"k must be in 1..{len(common)} (models scored by both), got {k}")
    return len(top_k(predicted[common], k) & top_k(actual[common], k)) / k


def coverage_table(features: pd.DataFrame, target: pd.Series, ks: list[int],
                   extra: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """Top-k coverage of each feature (and of each `extra` predictor) against the target.

    A feature that correlates negatively with the target is ranked in reverse (lower is better),
    so coverage measures how well it selects, whatever its sign. `extra` predictors (the Elastic
    Net) are taken as they are: higher predicted is better. A predictor that gives every model
    the same value selects nothing; its coverage is left empty.
    """
    rows = []
    candidates = [(c, features[c], True) for c in features.columns]
    candidates += [(name, values, False) for name, values in (extra or {}).items()]
    for name, values, orient in candidates:
        common = values.dropna().index.intersection(target.dropna().index)
        if len(common) < 3:
            continue
        row = {"predictor": name, "n": len(common)}
        constant = np.ptp(values[common].to_numpy(float)) <= 1e-12 * max(1.0, float(np.abs(values[common]).max()))
        sign = 1.0
        if orient and not constant:
            rho = stats.spearmanr(values[common], target[common]).statistic
            sign = -1.0 if rho < 0 else 1.0
        for k in ks:
            row[f"top{k}"] = (np.nan if constant or k > len(common)
                              else top_k_coverage(values * sign, target, k))
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["mean"] = table[[f"top{k}" for k in ks]].mean(axis=1)
        table = table.sort_values("mean", ascending=False, na_position="last").reset_index(drop=True)
    return table
