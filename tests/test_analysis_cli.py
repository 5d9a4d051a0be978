"""python -m rm_lab.analysis end to end: results.json files + a benchmark table -> reports."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from rm_lab.cli.analysis import main

MODELS = {"alpha": (0.55, 10.0), "beta": (0.60, 20.0), "gamma": (0.70, 40.0), "delta": (0.65, 30.0),
          "eps": (0.75, 50.0), "zeta": (0.58, 15.0)}


def _write_runs(write_run, root, rewardbench: bool):
    for model, (score, _) in MODELS.items():
        for seed, shift in ((0, -0.01), (1, 0.01)):
            acc = score + shift
            per_domain = {"hh_rlhf": {"accuracy": acc, "n": 10, "tied": 0}, "oasst": {"accuracy": acc, "n": 10, "tied": 0}}
            run = {"status": "completed", "model": model, "method": "baseline", "dataset": "d", "seed": seed,
                   "config": {"model": {"source": f"org/{model}"}},
                   "accuracy": {"per_domain": per_domain, "average": acc}}
            if rewardbench:
                run["rewardbench"] = {"score": acc - 0.1, "sections": {"Chat": acc, "Chat Hard": acc - 0.2,
                                                                        "Safety": acc - 0.1, "Reasoning": acc - 0.1}}
            write_run(root / "baseline" / model / "d" / f"seed_{seed}" / "results.json", **run)
    broken = root / "baseline" / "omega" / "d" / "seed_0" / "results.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")


def _write_table(path, source: str):
    rows = ["model,hub_id,size_b,bench_good,bench_good_source,bench_flat,bench_flat_source"]
    for model, (_, good) in MODELS.items():
        size = 0.5 if model in ("alpha", "beta", "gamma") else 2.0
        rows.append(f"{model},org/{model},{size},{good},{source},1,{source}")
    rows.append("untrained,org/untrained,2.0,45,made up,1,made up")
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("rewardbench", [False, True])
def test_report_from_runs_labels_every_output_synthetic(tmp_path, write_run, capsys, rewardbench):
    _write_runs(write_run, tmp_path / "sweep", rewardbench)
    _write_table(tmp_path / "bench.csv", "synthetic for the test")
    out = tmp_path / "report"
    code = main(["--runs", str(tmp_path / "sweep"), "--benchmarks", str(tmp_path / "bench.csv"), "--out", str(out),
                 "--default", "alpha", "delta", "--size-groups", "0,1,10", "--k", "1-3", "--folds", "3",
                 "--degrees", "1", "--alphas", "0.001,0.01", "--l1-ratios", "0.5,1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC" in printed
    net = json.loads((out / "elastic_net.json").read_text())["elastic_net"]
    headline = next(line for line in printed.splitlines() if line.startswith("Elastic Net: "))
    # the nested out-of-fold RMSE leads; the CV RMSE that chose the settings is named as optimistic
    assert f"nested out-of-fold RMSE {net['out_of_fold_rmse']:.4f} against {net['baseline_rmse']:.4f}" in headline
    assert f"the CV RMSE that chose these settings, {net['cv_rmse']:.4f}, is optimistic" in headline
    assert ("no better than predicting the mean" in headline) == (net["out_of_fold_rmse"] >= net["baseline_rmse"])
    for name in ("scores.csv", "correlations.csv", "topk_coverage.csv", "predicted_ranking.csv", "selection_gain.csv"):
        frame = pd.read_csv(out / name)
        assert frame["benchmark_table"].str.contains("SYNTHETIC").all(), name
    summary = json.loads((out / "elastic_net.json").read_text())
    assert summary["synthetic"] and "SYNTHETIC" in summary["benchmark_table"]
    assert summary["runs"]["used"] == 12 and summary["runs"]["skipped"][0]["status"] == "unreadable"
    assert "RewardBench" in summary["target"] if rewardbench else "mean pairwise accuracy" in summary["target"]
    assert "SYNTHETIC" in (out / "summary.md").read_text()
    for png in ("correlations.png", "predicted_vs_actual.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    scores = pd.read_csv(out / "scores.csv").set_index("model")
    expected = MODELS["gamma"][0] - (0.1 if rewardbench else 0.0)
    assert scores.loc["gamma", "score"] == pytest.approx(expected)  # the two seeds averaged
    corr = pd.read_csv(out / "correlations.csv").set_index("feature")
    assert corr.loc["bench_good", "spearman_rho"] == pytest.approx(1.0)
    ranking = pd.read_csv(out / "predicted_ranking.csv").set_index("model")
    assert not ranking.loc["untrained", "trained"] and len(ranking) == 7  # candidates are ranked too
    gain = pd.read_csv(out / "selection_gain.csv").set_index("size_group")
    assert gain.loc["0-1B", "best"] == "gamma" and gain.loc["0-1B", "default"] == "alpha"
    assert gain.loc["1-10B", "best"] == "eps" and gain.loc["1-10B", "default"] == "delta"


def test_measured_table_is_not_labelled_synthetic(tmp_path, write_run):
    _write_runs(write_run, tmp_path / "sweep", rewardbench=False)
    _write_table(tmp_path / "bench.csv", "open llm leaderboard")
    out = tmp_path / "report"
    assert main(["--runs", str(tmp_path / "sweep"), "--benchmarks", str(tmp_path / "bench.csv"), "--out", str(out),
                 "--k", "2", "--folds", "3", "--degrees", "1", "--alphas", "0.01", "--l1-ratios", "1"]) == 0
    assert not pd.read_csv(out / "scores.csv")["benchmark_table"].str.contains("SYNTHETIC").any()
    assert "SYNTHETIC" not in (out / "summary.md").read_text()


def test_unknown_models_fail_with_a_clear_message(tmp_path, write_run, capsys):
    _write_runs(write_run, tmp_path / "sweep", rewardbench=False)
    (tmp_path / "bench.csv").write_text("model,size_b,mmlu\nother1,1,2\nother2,1,3\n")
    assert main(["--runs", str(tmp_path / "sweep"), "--benchmarks", str(tmp_path / "bench.csv"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "only 0 scored models appear in the benchmark table" in capsys.readouterr().err


def test_report_from_a_published_scores_table(tmp_path):
    rows = ["model,score,Chat"] + [f"{m},{s},{s + 0.1}" for m, (s, _) in MODELS.items()]
    (tmp_path / "scores.csv").write_text("\n".join(rows) + "\n")
    _write_table(tmp_path / "bench.csv", "paper appendix")
    out = tmp_path / "report"
    assert main(["--scores", str(tmp_path / "scores.csv"), "--benchmarks", str(tmp_path / "bench.csv"),
                 "--out", str(out), "--k", "2", "--folds", "3", "--degrees", "1", "--alphas", "0.001",
                 "--l1-ratios", "1"]) == 0
    scores = pd.read_csv(out / "scores.csv").set_index("model")
    assert scores.loc["eps", "score"] == pytest.approx(0.75) and scores.loc["eps", "seeds"] == 1
    assert json.loads((out / "elastic_net.json").read_text())["elastic_net"]["selected"][0][0] == "bench_good"


def test_runs_of_different_datasets_are_not_mixed(tmp_path, write_run, capsys):
    _write_runs(write_run, tmp_path / "sweep", rewardbench=False)
    other = {"status": "completed", "model": "alpha", "method": "baseline", "dataset": "other", "seed": 0,
             "accuracy": {"per_domain": {}, "average": 0.9}}
    write_run(tmp_path / "sweep" / "baseline" / "alpha" / "other" / "seed_0" / "results.json", **other)
    _write_table(tmp_path / "bench.csv", "x")
    assert main(["--runs", str(tmp_path / "sweep"), "--benchmarks", str(tmp_path / "bench.csv"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "mix methods/datasets baseline/d, baseline/other" in capsys.readouterr().err
