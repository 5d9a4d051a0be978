"""W&B without training: the logger config (group, job type, names, tags), log_model refused before
any work when a run cannot upload, the summary fields of router and RewardBench runs, and
publishing a report spec without wandb-workspaces. The sweep itself: tests/test_wandb.py."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rm_lab.cli.report import main
from rm_lab.core.config import compose
from rm_lab.rundir.publish import summary_fields
from rm_lab.rundir.wandb_logger import summary_ops
from rm_lab.runner.run import run


def _cfg(tmp_path, *overrides):
    cfg = compose(["model=tiny-deberta", "logger=wandb", *overrides])
    cfg.paths.output_dir = str(tmp_path / "run")
    return cfg


def test_a_single_run_is_its_own_group_with_a_job_type_per_method(tmp_path):
    cfg = _cfg(tmp_path, "method=more", "seed=7")
    OmegaConf.resolve(cfg)
    wb = cfg.logger.wandb
    assert cfg.run_group == wb.group == wb.config.run_group == str(tmp_path / "run")  # outside the cwd: absolute
    assert wb.job_type == "more" and wb.name == "more/tiny-deberta/five_domains_sample/seed_007"
    assert list(wb.tags) == ["method:more", "model:tiny-deberta", "dataset:five_domains_sample", "seed:007"]
    assert wb._target_ == "rm_lab.rundir.wandb_logger.RunLogger" and wb.log_model is False


@pytest.mark.parametrize("overrides, reason", [
    (["logger=csv", "+logger.wandb.log_model=true"], "add logger=wandb"),
    (["logger.wandb.log_model=true", "checkpoint.best=false"], "checkpoint.best=false"),
    (["logger.wandb.log_model=true", "train=false"], "train=false trains no weights"),
    (["logger.wandb.log_model=true", "method=rodos", "method.save_components=false"], "save_components=false"),
    (["logger.wandb.log_model=all"], "takes true"),
])
def test_log_model_is_refused_before_any_work_with_the_reason(tmp_path, overrides, reason):
    cfg = _cfg(tmp_path, *overrides)
    with pytest.raises(ValueError, match=reason):
        run(cfg)
    assert not (tmp_path / "run").exists()  # nothing written: refused in the plan stage


def test_validation_metrics_keep_their_best_value():
    assert summary_ops("val/accuracy/average") == "max,last"
    assert summary_ops("val/router/accuracy") == "max,last"
    assert summary_ops("val/loss") == "min,last"
    assert summary_ops("train/loss") is None and summary_ops("test/accuracy/average") is None


def test_summary_fields_carry_router_and_rewardbench_blocks():
    results = {"status": "completed",
               "accuracy": {"per_domain": {"hh_rlhf": {"accuracy": 0.6, "tied": 1, "n": 10}}, "average": 0.6,
                            "overall": 0.6, "ties": 1, "n": 10},
               "params": {"total": 30, "trainable": 20, "by_component": {"router": {"total": 10, "trainable": 10}}},
               "train_time": {"total_s": 4.0, "per_epoch_s": [1.0, 3.0], "by_component": {"router": 4.0}},
               "config": {"trainer": {"max_epochs": 2}},
               "inference": {"seconds_per_input": 0.002, "per_input": {"seconds_per_input": 0.002},
                             "batched": {"seconds_per_input": 0.0005}},
               "router": {"accuracy": 0.9, "per_domain": {"hh_rlhf": {"accuracy": 0.9, "n": 10}}},
               "rewardbench": {"score": 0.7, "sections": {"Chat": 0.8, "Safety": None}}}
    s = summary_fields(results)
    assert s["router/accuracy"] == 0.9 and s["router/hh_rlhf/accuracy"] == 0.9
    assert s["rewardbench/score"] == 0.7 and s["rewardbench/Chat"] == 0.8 and "rewardbench/Safety" not in s
    assert s["params/router/trainable"] == 10 and s["train_epoch_s/router"] == 2.0
    assert s["train_epoch_s/total"] == 2.0 and s["train_time/per_epoch_s"] == 2.0
    assert s["inference_ms"] == 2.0 and s["inference/batched_ms"] == 0.5


@pytest.mark.skipif(importlib.util.find_spec("wandb_workspaces") is not None, reason="wandb-workspaces installed")
def test_publishing_a_spec_without_wandb_workspaces_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    spec = Path(tmp_path / "wandb_report.json")
    spec.write_text('{"kind": "rm_lab.wandb_report", "version": 1}')
    assert main(["--wandb-publish", str(spec)]) == 2
    assert "pip install 'rm_lab[wandb-report]'" in capsys.readouterr().err
    spec.write_text("{}")
    assert main(["--wandb-publish", str(spec)]) == 2
    assert "not a report spec" in capsys.readouterr().err
