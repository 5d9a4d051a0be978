"""W&B logging works with no network (offline mode) and leaves a run that `wandb sync` can upload."""
from __future__ import annotations

import json

import pytest

from rm_lab.runner.run import run

pytestmark = pytest.mark.slow


def test_wandb_offline_run_logs_config_metrics_and_table(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_cfg("logger=wandb", "experiment_name=wandb_check", "seed=2")
    results = run(cfg)
    assert results["status"] == "completed"
    runs = list((tmp_path / "run").rglob("offline-run-*"))
    assert runs, "no offline W&B run directory was written"
    run_dir = runs[0]
    assert list(run_dir.glob("*.wandb")), "the offline run has no .wandb log to sync"
    # offline runs keep config, summary and tags in the .wandb record log (what `wandb sync` uploads)
    record_log = next(run_dir.glob("*.wandb")).read_bytes()
    for needle in (b"tiny-deberta", b"wandb_check", b"accuracy/average", b"method:baseline", b"seed:2"):
        assert needle in record_log, needle
    tables = list(run_dir.glob("files/media/table/accuracy_by_domain*.table.json"))
    assert tables, "the per-domain accuracy table was not logged"
    table = json.loads(tables[0].read_text())
    assert table["columns"] == ["domain", "accuracy", "ties", "pairs"]
    logged = {row[0]: row[1] for row in table["data"]}
    assert logged == {d: r["accuracy"] for d, r in results["accuracy"]["per_domain"].items()}
    assert (tmp_path / "run" / "csv" / "metrics.csv").exists()  # csv logger stays on
