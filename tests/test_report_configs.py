"""The configs behind the report targets: launchers, the tables profile, W&B grouping, make targets."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rm_lab.core.config import compose

ROOT = Path(__file__).resolve().parents[1]


def _compose(*overrides, hydra=False):
    return compose(overrides, return_hydra_config=hydra)


def test_launcher_configs_extend_the_plugins():
    slurm = _compose("hydra/launcher=slurm", hydra=True).hydra.launcher
    assert slurm._target_.endswith("submitit_launcher.SlurmLauncher")
    assert slurm.gpus_per_node == 1 and slurm.timeout_min > 0
    joblib = _compose("hydra/launcher=local_joblib", hydra=True).hydra.launcher
    assert joblib._target_.endswith("joblib_launcher.JoblibLauncher") and joblib.n_jobs == 2


def test_an_experiment_names_its_sweep_and_wandb_groups_by_its_folder(tmp_path):
    cfg = _compose("experiment=tables_offline", "logger=wandb", "method=baseline", "seed=3")
    assert cfg.experiment_name == "tables_offline"
    cfg.paths.output_dir = str(tmp_path / "run")  # outside Hydra: the run's own folder is its group
    wb = cfg.logger.wandb
    assert wb.group == str(tmp_path / "run") and wb.job_type == "baseline"
    assert dict(wb.config) == {"run_method": "baseline", "run_backbone": "minilm-l6",
                               "run_dataset": "five_domains_sample", "run_seed": 3,
                               "run_experiment": "tables_offline", "run_group": str(tmp_path / "run")}
    assert list(wb.tags) == ["method:baseline", "model:minilm-l6", "dataset:five_domains_sample", "seed:003"]
    assert _compose("experiment=tables_offline", "experiment_name=mine").experiment_name == "mine"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_targets_build_the_sweep_and_report_commands():
    def dry(*args):  # the methods come from `python -m rm_lab.cli methods`: this interpreter's
        return subprocess.run(["make", "-n", "-o", ".venv/.installed", f"PY={sys.executable}", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=240)

    paper = dry("tables", "PROFILE=paper", "LAUNCHER=slurm")
    assert paper.returncode == 0, paper.stderr
    # the paper's rows: each method of Tables 2, 3 and 6 on the backbones it declares, one sweep per method
    assert "-m rm_lab.cli methods --table 2 --table 3 --table 6 --runs" in paper.stdout
    assert "| while read method models" in paper.stdout
    assert "experiment=paper_$method model=$models seed=0,1,2,3,4" in paper.stdout
    assert "experiment_name=tables_paper" in paper.stdout and "backbones_paper" not in paper.stdout
    assert "hydra/launcher=slurm" in paper.stdout and "hydra.sweep.dir=multirun/tables_paper/" in paper.stdout
    assert "rm_lab.report --out reports/paper --paper-rows" in paper.stdout and "--tables 2 3 4 5 6" in paper.stdout
    backbones = dry("table7", "PROFILE=paper")
    # Table 7's method alone behind the backbones, in its own sweep
    assert "experiment=paper_baseline experiment_name=backbones_paper" in backbones.stdout
    assert "--tables 7" in backbones.stdout
    offline = dry("table2")
    assert "experiment=tables_offline method=baseline,base_lora,more,rodos,arliss " in offline.stdout
    assert "seed=0,1 " in offline.stdout
    assert "--tables 2 --models minilm-l6" in offline.stdout
    bad = dry("table7", "PROFILE=laptop")
    assert bad.returncode != 0 and "PROFILE must be offline or paper" in bad.stderr
