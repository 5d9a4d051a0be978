"""End to end: a tiny run composed from the real config, results.json, determinism, sweeps."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rm_lab.core.config import job_key
from rm_lab.core.errors import ConfigValueError
from rm_lab.runner.preflight import CannotStart
from rm_lab.runner.run import run

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_run_writes_a_complete_results_file(make_cfg, tmp_path):
    cfg = make_cfg("seed=3")
    results = run(cfg)
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["status"] == "completed"
    assert (on_disk["method"], on_disk["model"], on_disk["dataset"], on_disk["seed"]) == (
        "baseline", "tiny-deberta", "five_domains_sample", 3)
    assert on_disk["config"]["model"]["name"] == "tiny-deberta"
    assert on_disk["versions"]["torch"]
    acc = on_disk["accuracy"]
    assert set(acc["per_domain"]) == {"hh_rlhf", "hellaswag", "oasst"}
    for row in acc["per_domain"].values():
        assert row["n"] == 12 and row["won"] + row["tied"] + row["lost"] == 12
        assert row["accuracy"] == pytest.approx(row["won"] / 12)
    assert acc["average"] == pytest.approx(sum(r["accuracy"] for r in acc["per_domain"].values()) / 3)
    data = on_disk["data"]
    assert data["shp"]["absent"] and data["dahoas"]["absent"]
    assert data["hh_rlhf"]["pairs"] == {"train": 24, "validation": 8, "test": 12}
    assert data["hh_rlhf"]["dropped"]["all"]["prompt_mismatch"] >= 5
    params = on_disk["params"]
    assert params["total"] == params["trainable"] > 0
    assert set(params["by_component"]) == {"backbone", "head"}
    assert len(on_disk["train_time"]["per_epoch_s"]) == 1
    assert on_disk["inference"]["inputs"] == 2 * 36
    assert (tmp_path / "run" / "csv" / "metrics.csv").exists()
    assert results["accuracy"] == acc


@pytest.mark.slow
def test_same_seed_same_results(make_cfg):
    first = run(make_cfg("seed=1", out="a"))
    second = run(make_cfg("seed=1", out="b"))
    assert first["accuracy"] == second["accuracy"]


@pytest.mark.slow
def test_training_moves_the_model(make_cfg):
    trained = run(make_cfg("seed=0", "method.lr=1e-3", out="trained"))
    untrained = run(make_cfg("seed=0", "train=false", out="untrained"))
    assert trained["accuracy"]["loss"] != untrained["accuracy"]["loss"]
    assert untrained["train_time"]["per_epoch_s"] == []


def test_failed_run_leaves_a_failed_results_file(make_cfg, tmp_path):
    cfg = make_cfg("dataset=hh_rlhf", f"dataset.domains.hh_rlhf.path={tmp_path}/missing.jsonl.gz")
    with pytest.raises(CannotStart, match="missing.jsonl.gz does not exist"):  # the plan's check, before any work
        run(cfg)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "failed" and "missing.jsonl.gz" in results["error"]


@pytest.mark.slow
def test_single_domain_reads_a_local_file_by_path(make_cfg, fixtures):
    results = run(make_cfg("dataset=shp", f"dataset.domains.shp.path={fixtures}/shp.jsonl",
                           "dataset.domains.shp.test_fraction=0.5"))
    assert list(results["accuracy"]["per_domain"]) == ["shp"]
    counts = results["data"]["shp"]["pairs"]
    assert counts["train"] + counts["validation"] + counts["test"] == 12


def _cli(*args, cwd, timeout=300):
    env = {**os.environ, "RM_LAB_CACHE": str(Path(cwd) / "cache"), "WANDB_SILENT": "true"}
    return subprocess.run([sys.executable, "-m", "rm_lab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_two_seed_multirun_gives_two_results_files(tmp_path):
    # `-m` after overrides, as in `python -m rm_lab method=rodos model=deberta-v3-base -m seed=0,1,2,3,4`
    proc = _cli("model=tiny-deberta", "-m", "seed=0,1", "dataset.max_pairs.train=16",
                "dataset.max_pairs.test=8", f"paths.sweep_root={tmp_path}/multirun", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("plan: baseline on tiny-deberta, dataset five_domains_sample") == 2  # each job's plan
    files = sorted((tmp_path / "multirun").rglob("results.json"))
    assert len(files) == 2
    for seed, path in enumerate(files):  # job_<key>: the job's own overrides, sorted (paths.* left out)
        overrides = ["dataset.max_pairs.test=8", "dataset.max_pairs.train=16", "model=tiny-deberta", f"seed={seed}"]
        assert path.parent.name == f"job_{job_key(','.join(overrides))}"
        assert path.parts[-6:-2] == ("baseline", "tiny-deberta", "five_domains_sample", f"seed_{seed}")
        assert json.loads(path.read_text())["seed"] == seed


@pytest.mark.slow
def test_wrong_option_fails_before_work_naming_the_choices(tmp_path):
    proc = _cli("model=deberta-v9", cwd=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "deberta-v3-base" in proc.stderr and "minilm-l6" in proc.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("results.json"))


@pytest.mark.slow
def test_help_lists_groups_and_choices(tmp_path):
    proc = _cli("--help", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0
    for needle in ("dataset:", "model:", "method:", " baseline", "five_domains_sample", "tiny-deberta"):
        assert needle in proc.stdout


@pytest.mark.slow
def test_ckpt_tests_a_trained_runs_weights_on_any_dataset(make_cfg, tmp_path):
    trained = run(make_cfg("seed=0", "method.lr=1e-3", out="trained"))
    again = run(make_cfg("seed=5", "train=false", f"ckpt={tmp_path / 'trained'}", out="again"))

    def counts(acc):
        return {d: (r["won"], r["tied"], r["lost"]) for d, r in acc["per_domain"].items()}

    assert counts(again["accuracy"]) == counts(trained["accuracy"])
    assert again["accuracy"]["loss"] == pytest.approx(trained["accuracy"]["loss"])
    on_disk = json.loads((tmp_path / "again" / "results.json").read_text())
    assert on_disk["ckpt"] == str((tmp_path / "trained").resolve())
    assert on_disk["config"]["ckpt"] == str(tmp_path / "trained")
    assert on_disk["train_time"]["by_component"] == {}
    other = run(make_cfg("train=false", f"ckpt={tmp_path / 'trained'}", "dataset=hh_rlhf_sample",
                         "dataset.max_pairs.test=8", out="other"))
    assert other["status"] == "completed" and list(other["accuracy"]["per_domain"]) == ["hh_rlhf"]
    assert other["accuracy"]["per_domain"]["hh_rlhf"]["n"] == 8


def test_ckpt_refuses_another_method_or_training_before_any_work(make_cfg, tmp_path, write_run):
    stored = tmp_path / "stored"
    write_run(stored / "results.json", method="rodos", model="tiny-deberta")
    with pytest.raises(ValueError, match="method=rodos model=tiny-deberta run; this run is method=baseline"):
        run(make_cfg("train=false", f"ckpt={stored}"))
    with pytest.raises(ValueError, match="add train=false"):
        run(make_cfg(f"ckpt={stored}"))
    write_run(tmp_path / "plain" / "results.json", method="baseline", model="tiny-deberta")
    with pytest.raises(ValueError, match="best.ckpt is missing"):
        run(make_cfg("train=false", f"ckpt={tmp_path / 'plain'}"))
    with pytest.raises(ConfigValueError, match="does not exist"):  # one line, as every user error
        run(make_cfg("train=false", f"ckpt={tmp_path / 'nowhere'}"))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_ckpt_of_a_composite_method_loads_its_components(make_cfg, tmp_path):
    trained = run(make_cfg("method=rodos", "dataset.max_pairs.train=12", out="trained"))
    again = run(make_cfg("method=rodos", "train=false", f"ckpt={tmp_path / 'trained'}", out="again"))
    for name in ("won", "tied", "lost"):
        assert ({d: r[name] for d, r in again["accuracy"]["per_domain"].items()}
                == {d: r[name] for d, r in trained["accuracy"]["per_domain"].items()})
    assert again["components"]["reused_from"] == str((tmp_path / "trained").resolve())
    assert not (tmp_path / "again" / "components").exists()
