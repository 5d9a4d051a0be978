"""Post-training stages: the zoo's stage entries and the stage-effect table against base models."""
from __future__ import annotations

import pandas as pd
import pytest

from rm_lab.cli.analysis_stages import main
from rm_lab.core.config import CONF_DIR, compose
from rm_lab.studies.base_model.scores import scores_from_runs
from rm_lab.studies.base_model.stages import stage_summary, stage_table
from rm_lab.studies.base_model.zoo import STAGES, ZooEntry, count_from_config

# a synthetic sweep: SFT adds 15.5% over the base, DPO costs 4% of the SFT score, RL 3% of DPO's
SCORES = {"llama-3.1-8b": 0.600, "tulu-3-8b-sft": 0.693, "tulu-3-8b-dpo": 0.66528, "tulu-3-8b": 0.6453216,
          "llama-3.1-8b-instruct": 0.660, "qwen2.5-7b": 0.700, "qwen2.5-7b-instruct": 0.770}


def _write_runs(write_run, root):
    for model, score in SCORES.items():
        for seed, shift in ((0, -0.01), (1, 0.01)):  # two seeds average to the score
            acc = score + shift
            write_run(root / "baseline" / model / "d" / f"seed_{seed}" / "results.json", status="completed",
                      model=model, method="baseline", dataset="d", seed=seed,
                      accuracy={"per_domain": {"helpsteer2": {"accuracy": acc, "n": 10, "tied": 0}}, "average": acc})


def test_stage_table_measures_each_stage_against_base_and_parent(tmp_path, write_run):
    _write_runs(write_run, tmp_path / "sweep")
    scores, _ = scores_from_runs([tmp_path / "sweep"])
    table = stage_table(scores["score"]).set_index("model")
    assert list(table.index) == [e.model for e in STAGES]
    sft, dpo, final = table.loc["tulu-3-8b-sft"], table.loc["tulu-3-8b-dpo"], table.loc["tulu-3-8b"]
    assert sft["rel_vs_base"] == pytest.approx(0.155) and sft["delta_vs_base"] == pytest.approx(0.093)
    assert sft["rel_vs_parent"] == pytest.approx(0.155)  # SFT's parent is the base
    assert dpo["rel_vs_parent"] == pytest.approx(-0.04) and final["rel_vs_parent"] == pytest.approx(-0.03)
    assert dpo["parent"] == "tulu-3-8b-sft" and dpo["base_score"] == pytest.approx(0.600)
    assert final["rel_vs_base"] == pytest.approx(0.6453216 / 0.6 - 1)
    assert table.loc["qwen2.5-7b-instruct", "rel_vs_base"] == pytest.approx(0.1)  # its own family's base
    assert table.loc["llama-3.1-8b", "delta_vs_base"] == 0.0
    summary = stage_summary(table.reset_index()).set_index("stage")
    assert list(summary.index) == ["base", "sft", "dpo", "final", "instruct"]
    assert summary.loc["instruct", "models"] == 2
    assert summary.loc["instruct", "mean_rel_vs_base"] == pytest.approx((0.1 + 0.1) / 2)
    assert summary.loc["dpo", "mean_rel_vs_parent"] == pytest.approx(-0.04)


def test_missing_models_are_left_out_and_a_missing_base_leaves_the_deltas_empty():
    table = stage_table(pd.Series({"tulu-3-8b-sft": 0.7, "tulu-3-8b-dpo": 0.63})).set_index("model")
    assert list(table.index) == ["tulu-3-8b-sft", "tulu-3-8b-dpo"]
    assert table["rel_vs_base"].isna().all() and table.loc["tulu-3-8b-dpo", "rel_vs_parent"] == pytest.approx(-0.1)


def test_cli_writes_the_tables_and_reads_other_stage_lists(tmp_path, write_run, capsys):
    _write_runs(write_run, tmp_path / "sweep")
    out = tmp_path / "report"
    assert main(["--runs", str(tmp_path / "sweep"), "--out", str(out)]) == 0
    effect = pd.read_csv(out / "stage_effect.csv").set_index("model")
    assert effect.loc["tulu-3-8b-sft", "rel_vs_base"] == pytest.approx(0.155)
    assert "+15.5%" in (out / "stage_effect.md").read_text() and "+15.5%" in capsys.readouterr().out
    (tmp_path / "stages.csv").write_text("model,family,stage,parent\nqwen2.5-7b,q,base,\nqwen2.5-7b-instruct,q,instruct,qwen2.5-7b\n")
    assert main(["--runs", str(tmp_path / "sweep"), "--stages", str(tmp_path / "stages.csv"), "--out", str(out)]) == 0
    assert list(pd.read_csv(out / "stage_effect.csv")["model"]) == ["qwen2.5-7b", "qwen2.5-7b-instruct"]
    (tmp_path / "bad.csv").write_text("model,stage\nx,base\n")
    assert main(["--runs", str(tmp_path / "sweep"), "--stages", str(tmp_path / "bad.csv"), "--out", str(out)]) == 2
    assert "needs columns model, family, stage, parent" in capsys.readouterr().err


def test_stage_entries_are_checked_and_name_real_configs():
    with pytest.raises(ValueError, match="stage must be one of"):
        ZooEntry("m", "f", "chat", parent="b")
    with pytest.raises(ValueError, match="base model has no parent"):
        ZooEntry("m", "f", "base", parent="b")
    for entry in STAGES:
        assert (CONF_DIR / "model" / f"{entry.model}.yaml").exists(), entry.model
        assert entry.parent is None or entry.parent in {e.model for e in STAGES}
    cfg = compose(["experiment=base_model_stages"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params.model.split(",") == [e.model for e in STAGES]
    assert cfg.test_on == "best" and cfg.dataset.name == "helpsteer2_rewardbench"


def test_stage_models_build_from_config_at_their_published_size():
    for name, billions in (("tulu-3-8b-sft", 8.03), ("qwen2.5-7b", 7.62), ("llama-3.1-8b", 8.03)):
        assert count_from_config(name)["with_lm_head"] / 1e9 == pytest.approx(billions, rel=0.005)
