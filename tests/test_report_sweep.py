"""A real two-seed tiny sweep (run in parallel by the joblib launcher config), then the report."""
from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys

import pytest

from rm_lab.cli.report import main

pytestmark = pytest.mark.slow


def test_report_over_a_real_two_seed_sweep_writes_all_formats(tmp_path, capsys):
    sweep = tmp_path / "multirun" / "report_check" / "t0"
    env = {**os.environ, "RM_LAB_CACHE": str(tmp_path / "cache"), "WANDB_SILENT": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "rm_lab", "-m", "seed=0,1", "model=tiny-deberta", "logger=none",
         "dataset.max_pairs.train=16", "dataset.max_pairs.test=8", "hydra/launcher=local_joblib",
         "experiment_name=report_check", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(sweep.rglob("results.json"))
    assert len(files) == 2
    averages = [json.loads(f.read_text())["accuracy"]["average"] for f in files]

    out = tmp_path / "reports"
    assert main([str(sweep), "--out", str(out)]) == 0
    for n in ("2", "3", "6", "7"):
        for ext in ("md", "csv", "tex"):
            assert (out / f"table{n}.{ext}").stat().st_size > 0, f"table{n}.{ext}"
    for png in ("table2_domain_accuracy.png", "table2_accuracy_vs_params.png", "table7_domain_accuracy.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG", png

    rows = {r["method"]: r for r in csv.DictReader((out / "table2.csv").open())}
    base = rows["baseline"]
    assert base["status"] == "ok" and base["seeds"] == "0 1" and base["accuracy/average_n"] == "2"
    assert float(base["accuracy/average_mean"]) == pytest.approx(statistics.mean(averages))
    assert float(base["accuracy/average_std"]) == pytest.approx(statistics.stdev(averages))
    # methods of the paper that this sweep did not run are marked, not dropped
    assert rows["rodos"]["status"] == "missing"
    md = (out / "table2.md").read_text()
    assert "| RODOS | tiny DeBERTa (random) | — |" in md and "rodos / tiny-deberta" in md  # no run: its class's label
    assert "| Baseline | tiny DeBERTa (random) |" in md  # as the runs label their method
    t3 = {r["method"]: r for r in csv.DictReader((out / "table3.csv").open())}
    assert float(t3["baseline"]["train_epoch_s/total_mean"]) > 0
    t6 = {r["method"]: r for r in csv.DictReader((out / "table6.csv").open())}
    assert float(t6["baseline"]["inference_ms_mean"]) > 0
    assert "Table 7" in capsys.readouterr().out
