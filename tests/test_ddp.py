"""Multi-process runs on CPU (trainer=cpu_ddp: 2 processes, gloo): test counts summed over
processes, each test pair counted once, one results.json written by the first process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rm_lab.train import run

pytestmark = pytest.mark.slow

TINY = ["model=tiny-deberta", "dataset.max_pairs.train=8", "dataset.max_pairs.test=7", "dataset.batch_size=4",
        "dataset.eval_batch_size=4", "logger=csv"]


def _ddp(tmp_path: Path, *overrides: str) -> dict:
    out = tmp_path / "ddp"
    env = {**os.environ, "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "rm_lab", *TINY, "trainer=cpu_ddp", *overrides,
                           f"hydra.run.dir={out}", f"paths.cache_dir={tmp_path / 'cache'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(p.relative_to(out) for p in out.rglob("results.json"))
    assert files == [Path("results.json")], files  # one results file, from the first process
    return json.loads((out / "results.json").read_text())


def test_two_processes_score_the_test_set_like_one(make_cfg, tmp_path):
    single = run(make_cfg(*TINY, "train=false"))
    double = _ddp(tmp_path, "train=false")
    assert double["status"] == "completed"
    assert double["config"]["trainer"]["devices"] == 2 and double["processes"] == 2
    for name, row in single["accuracy"]["per_domain"].items():
        other = double["accuracy"]["per_domain"][name]
        assert (other["won"], other["tied"], other["lost"], other["n"]) == (row["won"], row["tied"], row["lost"],
                                                                          row["n"]), name
    assert double["accuracy"]["n"] == 21  # 7 per domain, an odd count: nothing padded or repeated
    assert double["accuracy"]["average"] == pytest.approx(single["accuracy"]["average"])
    assert double["accuracy"]["loss"] == pytest.approx(single["accuracy"]["loss"], rel=1e-4)


def test_two_processes_train_a_step(tmp_path):
    results = _ddp(tmp_path, "trainer.limit_train_batches=1")
    assert results["status"] == "completed"
    assert len(results["train_time"]["per_epoch_s"]) == 1
    assert results["accuracy"]["n"] == 21
