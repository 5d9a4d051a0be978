"""Sweeps never collide and reports never average different settings as if they were seeds."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rm_lab.report.grouping import group_runs
from rm_lab.report.paper_tables import build_tables
from rm_lab.rundir.results import load_runs
from rm_lab.runner.run import run


def _accuracy(avg: float) -> dict:
    return {"per_domain": {"hh_rlhf": {"accuracy": avg, "won": 1, "tied": 0, "lost": 1, "n": 2, "loss": 0.7}},
            "average": avg, "overall": avg, "ties": 0, "loss": 0.7, "n": 2}


def test_runs_that_differ_in_a_setting_are_separate_rows(tmp_path, write_run):
    for seed, lr, avg in [(0, 1e-3, 0.5), (1, 1e-3, 0.6), (0, 1e-4, 0.9), (1, 1e-4, 0.8)]:
        write_run(tmp_path / f"lr{lr}" / "baseline" / "m" / "d" / f"seed_{seed}" / "results.json",
                  config={"seed": seed, "method": {"lr": lr}, "paths": {"output_dir": str(tmp_path / str(seed))}},
                  accuracy=_accuracy(avg))
    rows, _ = group_runs(load_runs(tmp_path))
    assert sorted(key[3] for key in rows) == ["method.lr=0.0001", "method.lr=0.001"]
    assert all(len(row.runs) == 2 for row in rows.values())  # the seeds of one setting, never mixed
    (table,) = build_tables(load_runs(tmp_path), ["2"])
    means = {row.setting: row.cells["accuracy/average"].summary.mean for row in table.rows if row.runs}
    assert means == pytest.approx({"method.lr=0.001": 0.55, "method.lr=0.0001": 0.85})
    assert any("[method.lr=0.0001]" in " ".join(table.row_labels(row)) for row in table.rows)


def test_runs_that_differ_in_their_seed_only_are_one_row(tmp_path, write_run):
    for seed in (0, 1):
        write_run(tmp_path / "baseline" / "m" / "d" / f"seed_{seed}" / "results.json",
                  config={"seed": seed, "method": {"lr": 1e-3}}, accuracy=_accuracy(0.5))
    rows, _ = group_runs(load_runs(tmp_path))
    assert list(rows) == [("baseline", "m", "d", "")]


def test_a_sweep_finished_with_resume_is_one_row(tmp_path, write_run):
    # seed 0 ran through; seed 1 was killed and finished with resume=true (and saved more often)
    for seed, resume, every in [(0, False, 50), (1, True, 20)]:
        write_run(tmp_path / "baseline" / "m" / "d" / f"seed_{seed}" / "results.json",
                  config={"seed": seed, "method": {"lr": 1e-3}, "resume": resume, "resume_accept_changes": resume,
                          "checkpoint": {"every_n_steps": every, "last": True, "best": True}},
                  accuracy=_accuracy(0.5 + seed / 10))
    rows, _ = group_runs(load_runs(tmp_path))
    assert list(rows) == [("baseline", "m", "d", "")]
    assert len(rows[("baseline", "m", "d", "")].runs) == 2
    # what is tested is a setting: checkpoint.best decides the weights scored
    write_run(tmp_path / "baseline" / "m" / "d" / "seed_2" / "results.json",
              config={"seed": 2, "method": {"lr": 1e-3}, "checkpoint": {"every_n_steps": 50, "last": True, "best": False}},
              accuracy=_accuracy(0.5))
    rows, _ = group_runs(load_runs(tmp_path))
    assert len(rows) == 2 and any("checkpoint.best=False" in key[3] for key in rows)


def test_a_completed_run_is_never_overwritten(make_cfg, tmp_path, write_run):
    path = write_run(tmp_path / "run" / "results.json", method="baseline", model="m", dataset="d", seed=0,
                     accuracy=_accuracy(0.5))
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="never overwritten"):
        run(make_cfg())
    assert path.read_bytes() == before


@pytest.mark.slow
def test_a_two_value_lr_sweep_writes_two_results_and_two_report_rows(tmp_path):
    env = {**os.environ, "RM_LAB_CACHE": str(tmp_path / "cache"), "WANDB_SILENT": "true"}
    proc = subprocess.run([sys.executable, "-m", "rm_lab", "-m", "model=tiny-deberta", "method.lr=1e-3,1e-5",
                           "dataset.max_pairs.train=8", "dataset.max_pairs.validation=4", "dataset.max_pairs.test=4",
                           f"hydra.sweep.dir={tmp_path}/sweep"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted((tmp_path / "sweep").rglob("results.json"))
    assert len(files) == 2 and files[0].parent != files[1].parent
    assert {json.loads(f.read_text())["config"]["method"]["lr"] for f in files} == {1e-3, 1e-5}
    (table,) = build_tables(load_runs(tmp_path / "sweep"), ["2"])
    assert sorted(row.setting for row in table.rows if row.runs) == ["method.lr=0.001", "method.lr=1e-05"]

    # the same sweep again, as it is (refused: the folders hold completed runs) and with resume=true (each
    # job finds its completed run): no result is rewritten, nor Hydra's record of each run's config
    record = {p: p.read_bytes() for p in (tmp_path / "sweep").rglob(".hydra/*")}
    kept = {f: f.read_bytes() for f in files}
    assert len(record) == 6
    for extra, code in (([], 1), (["resume=true"], 0)):
        again = subprocess.run([*proc.args, *extra], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == code, again.stderr[-3000:]
        assert "Traceback" not in again.stderr, again.stderr[-3000:]
        assert {p: p.read_bytes() for p in (tmp_path / "sweep").rglob(".hydra/*")} == record
        assert {f: f.read_bytes() for f in files} == kept
    assert again.stderr.count("already holds a completed run") == 0  # resume=true: skipped, not refused
