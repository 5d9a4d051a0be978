"""Correlations with p-values, top-k coverage, and benchmarks oriented out of fold.

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


def orientation(values: pd.Series, target: pd.Series) -> float:
    """-1 when the values correlate negatively with the target (Spearman), else +1 (also when
    either is constant or fewer than 2 models have both)."""
    both = pd.concat([values, target], axis=1, join="inner").dropna()
    x, y = both.iloc[:, 0].to_numpy(float), both.iloc[:, 1].to_numpy(float)
    if len(both) < 2 or np.ptp(x) <= 0 or np.ptp(y) <= 0:
        return 1.0
    return -1.0 if stats.spearmanr(x, y).statistic < 0 else 1.0


def oriented_out_of_fold(values: pd.Series, target: pd.Series, fold_of: pd.Series) -> tuple[pd.Series, list[float]]:
    """A single benchmark as an out-of-fold predictor: each fold's values times the sign of the
    benchmark's Spearman correlation with the target on the other folds (its training folds),
    so a held-out model's orientation never depends on its own fold's scores. Returns the
    oriented values (models with a value, a target and a fold) and the sign used per fold."""
    common = values.dropna().index.intersection(target.dropna().index).intersection(fold_of.index)
    out = pd.Series(np.nan, index=common, dtype=float)
    signs = []
    for fold in sorted(set(fold_of[common])):
        test = common[fold_of[common].to_numpy() == fold]
        train = common[fold_of[common].to_numpy() != fold]
        sign = orientation(values[train], target[train])
        signs.append(sign)
        out[test] = values[test].to_numpy(float) * sign
    return out, signs


def coverage_table(features: pd.DataFrame, target: pd.Series, ks: list[int],
                   extra: dict[str, pd.Series] | None = None, fold_of: pd.Series | None = None) -> pd.DataFrame:
    """Top-k coverage of each feature (and of each `extra` predictor) against the target.

    A feature that correlates negatively with the target is ranked in reverse (lower is better),
    so coverage measures how well it selects, whatever its sign. With `fold_of` (each model's
    outer fold, rm_lab.studies.base_model.predictor.outer_folds) the sign comes from the training folds
    only (`oriented_out_of_fold`), as the Elastic Net's out-of-fold predictions do; `orientation`
    then says "+", "-" or "mixed" over the folds. Without it the sign comes from all models (an
    optimistic single predictor). `extra` predictors (the Elastic Net) are taken as they are:
    higher predicted is better. A predictor that gives every model the same value selects
    nothing; its coverage is left empty.
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
        ranked, signs = values, [1.0]
        if orient and not constant:
            if fold_of is not None:
                ranked, signs = oriented_out_of_fold(values, target, fold_of)
            else:
                signs = [orientation(values[common], target[common])]
                ranked = values * signs[0]
        row["orientation"] = "mixed" if len(set(signs)) > 1 else ("-" if signs[0] < 0 else "+")
        for k in ks:
            row[f"top{k}"] = (np.nan if constant or k > len(ranked.dropna().index.intersection(common))
                              else top_k_coverage(ranked, target, k))
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["mean"] = table[[f"top{k}" for k in ks]].mean(axis=1)
        table = table.sort_values("mean", ascending=False, na_position="last").reset_index(drop=True)
    return table
