"""A killed run resumes where it stopped and ends as an uninterrupted run does; a completed run
is never run (or written) again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TINY = ["model=tiny-deberta", "dataset.max_pairs.train=24", "dataset.max_pairs.validation=8",
        "dataset.max_pairs.test=12", "dataset.batch_size=4", "trainer.max_epochs=2", "checkpoint.every_n_steps=2",
        "method.lr=1e-3", "test_on=last", "logger=csv"]


def _command(tmp_path: Path, out: str, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "rm_lab", *TINY, *overrides, f"hydra.run.dir={tmp_path / out}",
            f"paths.cache_dir={tmp_path / 'cache'}"]


def _env() -> dict:
    return {**os.environ, "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}


def _run(tmp_path: Path, out: str, *overrides: str) -> dict:
    proc = subprocess.run(_command(tmp_path, out, *overrides), cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / out / "results.json").read_text())


def _kill_when(tmp_path: Path, out: str, marker: str, *overrides: str) -> None:
    """Start a run and SIGKILL it as soon as `marker` (a file under its folder) exists."""
    proc = subprocess.Popen(_command(tmp_path, out, *overrides), cwd=tmp_path, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (tmp_path / out / marker).exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((tmp_path / out / "results.json").read_text())["status"] == "running"


def _same_outcome(a: dict, b: dict) -> None:
    for name, row in a["accuracy"]["per_domain"].items():
        other = b["accuracy"]["per_domain"][name]
        assert (other["won"], other["tied"], other["lost"]) == (row["won"], row["tied"], row["lost"]), name
        assert other["loss"] == pytest.approx(row["loss"], abs=1e-6), name
    assert b["accuracy"]["loss"] == pytest.approx(a["accuracy"]["loss"], abs=1e-6)


def test_a_killed_run_resumes_mid_epoch_and_ends_like_an_uninterrupted_one(tmp_path):
    whole = _run(tmp_path, "whole")
    _kill_when(tmp_path, "killed", "checkpoints/last.ckpt")
    resumed = _run(tmp_path, "killed", "resume=true")
    assert resumed["status"] == "completed"
    _same_outcome(whole, resumed)
    assert [e["loss"] for e in resumed["validation"]["per_epoch"]] == pytest.approx(
        [e["loss"] for e in whole["validation"]["per_epoch"]], abs=1e-6)
    assert (tmp_path / "killed" / "checkpoints" / "best.ckpt").exists()


def test_a_resumed_rodos_run_retrains_only_unfinished_components(tmp_path):
    whole = _run(tmp_path, "whole", "method=rodos")
    _kill_when(tmp_path, "killed", "components/manifest.json", "method=rodos")  # the router is stored
    resumed = _run(tmp_path, "killed", "method=rodos", "resume=true")
    assert "router" in resumed["components"]["resumed"]
    assert "router" not in resumed["train_time"]["by_component"]
    _same_outcome(whole, resumed)
    assert resumed["router"]["confusion"] == whole["router"]["confusion"]


def test_resuming_a_completed_run_changes_nothing(tmp_path):
    _run(tmp_path, "done", "trainer.max_epochs=1")
    before = (tmp_path / "done" / "results.json").read_bytes()
    again = _run(tmp_path, "done", "trainer.max_epochs=1", "resume=true")
    assert again["status"] == "completed"
    assert (tmp_path / "done" / "results.json").read_bytes() == before
    proc = subprocess.run(_command(tmp_path, "done", "trainer.max_epochs=1"), cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "never overwritten" in proc.stderr
    assert (tmp_path / "done" / "results.json").read_bytes() == before
