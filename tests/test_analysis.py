"""Base-model analysis: correlations and p-values, top-k coverage, the Elastic Net, selection gain."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rm_lab.core.config import CONF_DIR
from rm_lab.studies.base_model.benchmarks import SYNTHETIC_OFFLINE, TEMPLATE, read_benchmarks
from rm_lab.studies.base_model.correlation import correlations, coverage_table, top_k_coverage
from rm_lab.studies.base_model.predictor import fit_elastic_net
from rm_lab.studies.base_model.selection_gain import selection_gain


def test_correlations_and_p_values_match_scipy_and_the_t_test():
    features = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "b": [2.0, 1.0, 4.0, 3.0, 6.0, np.nan],
                             "flat": [1.0] * 6}, index=list("uvwxyz"))
    target = pd.Series([0.50, 0.55, 0.52, 0.61, 0.70, 0.66], index=list("uvwxyz"))
    table = correlations(features, target).set_index("feature")
    r, p = stats.pearsonr(features["a"], target)
    rho, p_rho = stats.spearmanr(features["a"], target)
    assert table.loc["a", "pearson_r"] == pytest.approx(r)
    assert table.loc["a", "spearman_rho"] == pytest.approx(rho)
    n = 6
    t = r * np.sqrt((n - 2) / (1 - r ** 2))  # the t-test behind Pearson's p-value
    assert table.loc["a", "pearson_p"] == pytest.approx(2 * stats.t.sf(abs(t), n - 2)) == pytest.approx(p)
    assert table.loc["a", "spearman_p"] == pytest.approx(p_rho)
    assert table.loc["b", "n"] == 5  # the missing score is left out pairwise
    assert table.loc["b", "pearson_r"] == pytest.approx(stats.pearsonr(features["b"][:5], target[:5]).statistic)
    assert np.isnan(table.loc["flat", "pearson_r"])  # a constant column has no correlation


def test_top_k_coverage_on_a_hand_made_ranking():
    actual = pd.Series({"m1": 0.9, "m2": 0.8, "m3": 0.7, "m4": 0.6, "m5": 0.5})
    predicted = pd.Series({"m1": 0.1, "m2": 0.9, "m3": 0.3, "m4": 0.8, "m5": 0.2})  # ranks m2, m4, m3, m5, m1
    assert top_k_coverage(predicted, actual, 1) == 0.0          # {m2} vs {m1}
    assert top_k_coverage(predicted, actual, 2) == 0.5          # {m2, m4} vs {m1, m2}
    assert top_k_coverage(predicted, actual, 3) == pytest.approx(2 / 3)  # {m2, m4, m3} vs {m1, m2, m3}
    assert top_k_coverage(actual, actual, 4) == 1.0
    with pytest.raises(ValueError, match="k must be in 1..5"):
        top_k_coverage(predicted, actual, 6)
    # a benchmark that ranks in reverse is oriented by the sign of its correlation
    table = coverage_table(pd.DataFrame({"reverse": -actual}), actual, [1, 2]).set_index("predictor")
    assert table.loc["reverse", "top1"] == 1.0 and table.loc["reverse", "top2"] == 1.0


@pytest.mark.slow
def test_elastic_net_picks_the_informative_column():
    rng = np.random.default_rng(3)
    n = 30
    features = pd.DataFrame(rng.uniform(0, 100, size=(n, 4)), columns=["noise1", "signal", "noise2", "noise3"],
                            index=[f"m{i}" for i in range(n)])
    target = 0.5 + 0.004 * features["signal"] + rng.normal(0, 0.005, n)
    fit = fit_elastic_net(features, target, degrees=(1, 2), folds=5)
    assert fit["selected"][0][0] == "signal"
    assert fit["selected"][0][1] > 0
    weights = dict(fit["selected"])
    assert all(abs(weights.get(c, 0.0)) < 0.2 * weights["signal"] for c in ("noise1", "noise2", "noise3"))
    assert fit["cv_rmse"] < 0.3 * fit["baseline_rmse"]
    assert fit["folds"] == 5 and fit["n"] == n
    with pytest.raises(ValueError, match="at least 4 models"):
        fit_elastic_net(features.iloc[:3], target.iloc[:3])


def test_selection_gain_within_size_groups():
    scores = pd.Series({"a": 0.60, "b": 0.66, "c": 0.70, "d": 0.75, "e": 0.72})
    sizes = pd.Series({"a": 0.5, "b": 0.9, "c": 2.0, "d": 7.0, "e": 8.0})
    gain = selection_gain(scores, sizes, defaults=["a", "e"], edges=[0, 1, 3, 10]).set_index("size_group")
    assert gain.loc["0-1B", "best"] == "b" and gain.loc["0-1B", "default"] == "a"
    assert gain.loc["0-1B", "gain_rel"] == pytest.approx((0.66 - 0.60) / 0.60)
    assert gain.loc["3-10B", "best"] == "d" and gain.loc["3-10B", "gain_abs"] == pytest.approx(0.03)
    assert gain.loc["1-3B", "gain_abs"] == 0.0 and "median" in gain.loc["1-3B", "default_basis"]


def test_shipped_tables_parse_and_name_real_configs():
    template = read_benchmarks(TEMPLATE)
    assert not template.synthetic
    assert template.frame[[c for c in template.features if c not in ("size_b", "pretrain_tokens_t")]].isna().all().all()
    synthetic = read_benchmarks(SYNTHETIC_OFFLINE)
    assert synthetic.synthetic and "SYNTHETIC" in synthetic.label
    assert list(synthetic.features) == list(template.features)
    for model in list(template.frame.index) + list(synthetic.frame.index):
        assert (CONF_DIR / "model" / f"{model}.yaml").exists(), model


def test_bad_benchmark_tables_say_what_to_fix(tmp_path):
    (tmp_path / "nomodel.csv").write_text("name,mmlu\nx,1\n")
    with pytest.raises(ValueError, match="first column must be `model`"):
        read_benchmarks(tmp_path / "nomodel.csv")
    (tmp_path / "text.csv").write_text("model,mmlu\nx,high\n")
    with pytest.raises(ValueError, match="'mmlu' holds non-numbers: x='high'"):
        read_benchmarks(tmp_path / "text.csv")
    with pytest.raises(FileNotFoundError, match="benchmarks_template.csv"):
        read_benchmarks(tmp_path / "missing.csv")


def test_coverage_never_flips_the_combined_predictor_and_skips_constant_ones():
    actual = pd.Series({"m1": 0.9, "m2": 0.8, "m3": 0.7, "m4": 0.6})
    backwards = pd.Series({"m1": 0.1, "m2": 0.2, "m3": 0.3, "m4": 0.4})
    flat = pd.Series(0.5, index=actual.index)
    table = coverage_table(pd.DataFrame({"flat_feature": flat}), actual, [1, 2],
                           extra={"net": backwards, "flat_net": flat}).set_index("predictor")
    assert table.loc["net", "top1"] == 0.0 and table.loc["net", "top2"] == 0.0  # taken as it is
    assert np.isnan(table.loc["flat_net", "top1"]) and np.isnan(table.loc["flat_feature", "mean"])
