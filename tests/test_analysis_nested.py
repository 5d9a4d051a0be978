"""Fair comparisons: the Elastic Net's out-of-fold predictions come from nested CV, and single
benchmarks are oriented on the training folds, so neither side sees the fold it predicts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rm_lab.studies.base_model.correlation import coverage_table, oriented_out_of_fold
from rm_lab.studies.base_model.predictor import fit_elastic_net, outer_folds

GRID = {"degrees": (1,), "alphas": (0.0005, 0.005, 0.05, 0.5), "l1_ratios": (0.5, 1.0)}


def _models(n: int = 12, seed: int = 4):
    rng = np.random.default_rng(seed)
    index = [f"m{i:02d}" for i in range(n)]
    features = pd.DataFrame(rng.uniform(0, 100, size=(n, 3)), columns=["signal", "noise1", "noise2"], index=index)
    target = pd.Series(0.5 + 0.004 * features["signal"] + rng.normal(0, 0.02, n), index=index)
    return features, target


@pytest.mark.slow
def test_held_out_predictions_do_not_depend_on_their_own_folds_scores():
    features, target = _models()
    fit = fit_elastic_net(features, target, folds=4, seed=1, **GRID)
    assert fit["folds"] == 4 and len(fit["nested"]["params_by_fold"]) == 4
    assert fit["out_of_fold_rmse"] < fit["baseline_rmse"]  # the signal is found out of fold too
    fold_of = fit["fold_of"]
    for fold in range(4):
        held = fold_of.index[fold_of == fold]
        perturbed = target.copy()
        perturbed[held] = perturbed[held] * -3.0 + 2.0  # anything at all
        again = fit_elastic_net(features, perturbed, folds=4, seed=1, **GRID)
        assert again["fold_of"].equals(fold_of)
        assert np.allclose(again["out_of_fold"][held], fit["out_of_fold"][held], rtol=0, atol=1e-12)
        others = fold_of.index[fold_of != fold]
        assert not np.allclose(again["out_of_fold"][others], fit["out_of_fold"][others])  # the check can fail


def test_outer_folds_cover_every_model_once():
    index = pd.Index([f"m{i}" for i in range(7)])
    fold_of = outer_folds(index, folds=3, seed=0)
    assert sorted(fold_of.value_counts().tolist()) == [2, 2, 3] and list(fold_of.index) == list(index)
    assert outer_folds(index, folds=10).max() == 6  # at most one fold per model


def test_single_benchmarks_are_oriented_by_their_training_folds_only():
    target = pd.Series({"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4, "e": 0.5, "f": 0.6})
    bench = pd.Series({"a": 10.0, "b": 20.0, "c": 30.0, "d": 3.0, "e": 2.0, "f": 1.0})
    fold_of = pd.Series({"a": 0, "b": 0, "c": 0, "d": 1, "e": 1, "f": 1})
    # the benchmark rises with the target inside fold 0 and falls inside fold 1 (and over all six)
    oriented, signs = oriented_out_of_fold(bench, target, fold_of)
    assert signs == [-1.0, 1.0]  # fold 0 takes fold 1's sign, fold 1 takes fold 0's
    assert oriented[["a", "b", "c"]].tolist() == [-10.0, -20.0, -30.0]
    assert oriented[["d", "e", "f"]].tolist() == [3.0, 2.0, 1.0]
    # the held-out fold's own scores never turn its sign
    flipped = target.copy()
    flipped[["a", "b", "c"]] = [0.3, 0.2, 0.1]
    assert oriented_out_of_fold(bench, flipped, fold_of)[0][["a", "b", "c"]].tolist() == [-10.0, -20.0, -30.0]
    in_folds = coverage_table(bench.to_frame("bench"), target, [1, 3], fold_of=fold_of).set_index("predictor")
    on_all = coverage_table(bench.to_frame("bench"), target, [1, 3]).set_index("predictor")
    assert in_folds.loc["bench", "orientation"] == "mixed" and on_all.loc["bench", "orientation"] == "-"
    # in folds the top pick is d (3.0), not f; oriented on all models (f's fold included) f wins
    assert in_folds.loc["bench", "top1"] == 0.0 and in_folds.loc["bench", "top3"] == 1.0
    assert on_all.loc["bench", "top1"] == 1.0
