"""hparams_search=optuna: Hydra's Optuna sweeper maximizes the best validation accuracy that
python -m rm_lab returns (never the test accuracy). Runs where hydra-optuna-sweeper is installed
(pip install 'rm_lab[hparams]')."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rm_lab.core.config import compose

FIXTURE = Path(__file__).parent / "fixtures" / "preference_explicit.jsonl"


def test_the_search_config_tunes_lr_warmup_weight_decay_and_head_dropout():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from rm_lab.core.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", overrides=["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {"method.lr", "method.warmup_steps", "method.weight_decay", "method.head_dropout"}
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert "head_dropout" in compose([]).method  # every key it tunes exists in the default method


@pytest.mark.slow
def test_a_two_trial_search_returns_the_best_validation_accuracy(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    env = {**os.environ, "RM_LAB_CACHE": str(tmp_path / "cache"), "WANDB_SILENT": "true"}
    proc = subprocess.run([sys.executable, "-m", "rm_lab", "hparams_search=optuna", "hydra.sweeper.n_trials=2",
                           "model=tiny-deberta", "dataset=preference", f"dataset.domains.preference.path={FIXTURE}",
                           "dataset.max_pairs.train=8", "dataset.max_pairs.test=2", "dataset.batch_size=4",
                           "checkpoint.last=false", "checkpoint.best=false", f"hydra.sweep.dir={tmp_path}/sweep"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = [json.loads(f.read_text()) for f in sorted((tmp_path / "sweep").rglob("results.json"))]
    assert len(trials) == 2 and all(t["status"] == "completed" for t in trials)
    best = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    validation = [t["validation"]["best_accuracy"] for t in trials]
    assert best["best_value"] == pytest.approx(max(validation))
    winners = [t for t, v in zip(trials, validation) if v == max(validation)]  # tied trials: the sweeper keeps one
    assert any(best["best_params"]["method.lr"] == pytest.approx(w["config"]["method"]["lr"])
               and best["best_params"]["method.head_dropout"] == w["config"]["method"]["head_dropout"] for w in winners)
