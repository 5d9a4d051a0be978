"""W&B with no network: one tiny offline 2-method x 2-seed sweep (`python -m rm_lab -m`, logger=wandb,
log_model=true) and its `python -m rm_lab.report --wandb`, read back from W&B's own record files
(`run-<id>.wandb`) with rm_lab.report.wandb_records. Every test reads the same sweep."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rm_lab.cli.report import SPEC_NAME, main
from rm_lab.report.wandb_records import RecordFileError, find_record_files, read_run, read_runs
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.results import read_results

pytestmark = pytest.mark.slow

METHODS, SEEDS = ("baseline", "more"), (0, 1)
SWEEP = "multirun/wandb_check/t0"  # relative to the sweep's working directory: the W&B group


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep's folder, its runs' results, the report's folder and what the report printed."""
    cwd = tmp_path_factory.mktemp("wandb_sweep")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DATA_DIR": str(cwd / "wandb_data"),
           "WANDB_CACHE_DIR": str(cwd / "wandb_cache"), "RM_LAB_CACHE": str(cwd / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "rm_lab", "-m", f"method={','.join(METHODS)}", f"seed={','.join(map(str, SEEDS))}",
         "model=tiny-deberta", "dataset.max_pairs.train=8", "dataset.max_pairs.validation=4",
         "dataset.max_pairs.test=4", "dataset.batch_size=4", "checkpoint.last=false", "logger=wandb",
         "logger.wandb.log_model=true", "experiment_name=wandb_check", f"hydra.sweep.dir={SWEEP}"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        for key in ("WANDB_MODE", "WANDB_DATA_DIR", "WANDB_CACHE_DIR"):
            mp.setenv(key, env[key])
        mp.chdir(cwd)
        assert main([SWEEP, "--wandb", "--out", "reports", "--tables", "2", "3", "6"]) == 0
    results = {(r["method"], r["seed"]): r for r in map(read_results, sorted((cwd / SWEEP).rglob(RunDir.RESULTS)))}
    return {"cwd": cwd, "results": results, "reports": cwd / "reports", "printed": out.getvalue(),
            "runs": read_runs(cwd / SWEEP), "aggregate": read_runs(cwd / "reports")}


def test_one_group_per_sweep_job_type_per_method_sortable_names(sweep):
    runs, [aggregate] = sweep["runs"], sweep["aggregate"]
    assert len(runs) == len(METHODS) * len(SEEDS)
    assert {r.group for r in runs} == {SWEEP} and aggregate.group == SWEEP
    assert sorted(r.job_type for r in runs) == sorted(m for m in METHODS for _ in SEEDS)
    assert aggregate.job_type == "report"
    names = sorted(r.name for r in runs)
    assert names == [f"{m}/tiny-deberta/five_domains_sample/seed_{s:03d}" for m in METHODS for s in SEEDS]
    for r in runs:
        assert f"seed:{r.config['run_seed']:03d}" in r.tags and f"method:{r.job_type}" in r.tags
        assert r.config["run_group"] == SWEEP and r.exit_code == 0


def test_each_run_summary_holds_its_results(sweep):
    for run in sweep["runs"]:
        results = sweep["results"][(run.config["run_method"], run.config["run_seed"])]
        s = run.summary
        for domain, row in results["accuracy"]["per_domain"].items():
            assert s[f"accuracy/{domain}"] == row["accuracy"] and s[f"test_pairs/{domain}"] == row["n"]
        assert s["accuracy/average"] == results["accuracy"]["average"]
        assert s["params/total"] == results["params"]["total"]
        assert s["params/trainable"] == results["params"]["trainable"]
        for part, counts in results["params"]["by_component"].items():
            assert s[f"params/{part}/total"] == counts["total"]
        timing = results["train_time"]
        assert s["train_time/total_s"] == timing["total_s"] and s["train_epoch_s/total"] > 0
        assert s["train_time/per_epoch_s"] == pytest.approx(sum(timing["per_epoch_s"]) / len(timing["per_epoch_s"]))
        for part in timing["by_component"]:
            assert f"train_epoch_s/{part}" in s
        for form in ("per_input", "batched"):
            assert s[f"inference/{form}_ms"] == pytest.approx(1000 * results["inference"][form]["seconds_per_input"])
        # the best validation value, kept by define_metric(summary="max,last")
        assert run.metrics["val/accuracy/average"] == ["max", "last"] and run.metrics["val/loss"] == ["min", "last"]
        best = max(e["average"] for e in results["validation"]["per_epoch"])
        assert s["val/accuracy/average"]["max"] == pytest.approx(best, abs=1e-6)
        assert s["status"] == "completed" and "router/accuracy" not in s  # neither method has a router


def test_log_model_uploads_the_tested_weights(sweep):
    for run in sweep["runs"]:
        [model] = run.artifacts["model"]
        out_dir = Path(sweep["results"][(run.config["run_method"], run.config["run_seed"])]["output_dir"])
        assert model["name"] == f"model-{run.id}" and "tested" in model["aliases"]
        assert model["files"] == {"checkpoints/best.ckpt": RunDir(out_dir).best_checkpoint.stat().st_size,
                                  "results.json": RunDir(out_dir).results.stat().st_size}
        assert model["metadata"]["accuracy_average"] == run.summary["accuracy/average"]


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def _same(cell, text: str) -> bool:
    return (cell is None and text == "") or str(cell) == text or (text != "" and float(cell) == float(text))


def test_aggregate_tables_equal_the_report_csv(sweep):
    [aggregate], reports = sweep["aggregate"], sweep["reports"]
    # the method x domain table: mean, std and n as table2.csv has them
    table = aggregate.table("accuracy_summary")
    rows = {r["method"]: r for r in _csv(reports / "table2.csv")}
    got = [dict(zip(table["columns"], line)) for line in table["data"]]
    assert {g["method"] for g in got} == set(METHODS)
    for g in got:
        for stat in ("mean", "std", "n"):
            assert _same(g[stat], rows[g["method"]][f"accuracy/{g['domain']}_{stat}"]), (g, stat)
    domains = {g["domain"] for g in got}
    assert "average" in domains and len(domains) >= 2
    # each paper table (parameters and timing included) as its CSV
    for name in ("table2", "table3", "table6"):
        logged, written = aggregate.table(name), _csv(reports / f"{name}.csv")
        assert logged["columns"] == list(written[0])
        for line, row in zip(logged["data"], written, strict=True):
            assert all(_same(cell, row[col]) for col, cell in zip(logged["columns"], line)), (name, row)
    per_seed = aggregate.table("runs")
    assert len(per_seed["data"]) == len(METHODS) * len(SEEDS)
    assert "params_by_component" in aggregate.tables()
    # one bar chart (error bars over seeds) per domain, and the report's figures
    assert {f"charts/table2/accuracy_{d}" for d in domains} <= set(aggregate.images())
    assert "figures/table2_domain_accuracy" in aggregate.images()
    # the artifact: every run's results.json and the rendered tables
    [art] = aggregate.artifacts["sweep-results"]
    assert sum(f.startswith("results/") and f.endswith(RunDir.RESULTS) for f in art["files"]) == 4
    assert {"tables/table2.csv", "tables/table3.md", f"tables/{SPEC_NAME}"} <= set(art["files"])


def test_report_spec_groups_panels_by_method_and_says_how_to_publish(sweep):
    spec = json.loads((sweep["reports"] / SPEC_NAME).read_text())
    assert spec["group"] == SWEEP and spec["project"] == "rm_lab"
    assert spec["runset"]["filters"] == f"Config('run_group') = '{SWEEP}'"
    panels = [p for section in spec["sections"] for p in section.get("panels", [])]
    accuracy = [p for p in panels if p.get("metrics", [""])[0].startswith("accuracy/")]
    assert {p["metrics"][0] for p in accuracy} >= {"accuracy/average"} and len(accuracy) >= 3
    assert all(p["groupby"] == "run_method" and p["aggregate"] == "mean" and p["range"] == "stddev" for p in panels)
    assert set(spec["methods"]) == set(METHODS)
    printed = sweep["printed"]
    assert "wandb sync" in printed and f"--wandb-publish reports/{SPEC_NAME}" in printed


def test_the_reader_refuses_a_damaged_record_file(sweep, tmp_path):
    source = find_record_files(sweep["cwd"] / SWEEP)[0]
    data = bytearray(source.read_bytes())
    data[200] ^= 0xFF
    damaged = tmp_path / source.name
    damaged.write_bytes(bytes(data))
    with pytest.raises(RecordFileError, match="checksum"):
        read_run(damaged)
