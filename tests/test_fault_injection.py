"""Fault injection: runs crowded into one folder, killed and resumed with a changed config, full
disks during a checkpoint or results write, bad values, unreadable data, a sweep run again in
another order. Each error case asserts a clear error (on the command line: one line, no
traceback) and that nothing already written was lost, and records itself with the `fault_case`
fixture; the session ends with the tally ("N cases tried, N clear errors, nothing lost",
tests/conftest.py). Faults are injected by tests/fault_hooks.py, which lives in tests only.
"""
from __future__ import annotations

import csv
import errno
import gzip
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from fault_hooks import ckpt_enospc_at
from omegaconf import OmegaConf

import rm_lab.core.io as rm_io
from rm_lab.core.config import compose
from rm_lab.core.errors import (
    ConfigValueError,
    DataReadError,
    NoPairsError,
    ResumeConfigChanged,
    RunFolderBusy,
    RunWriteError,
)
from rm_lab.data.pairs import DropLog
from rm_lab.data.sources import read_file
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.lock import RunLock
from rm_lab.runner.resume_check import differences
from rm_lab.runner.run import run

HOOKS = Path(__file__).parent / "fault_hooks.py"
RUN = ["model=tiny-deberta", "dataset.max_pairs.train=8", "dataset.max_pairs.validation=4",
       "dataset.max_pairs.test=4", "dataset.batch_size=4", "checkpoint.every_n_steps=2", "method.lr=1e-3",
       "test_on=last", "logger=csv"]


def _command(folder: Path, *overrides: str, fault: str | None = None) -> list[str]:
    head = [sys.executable, str(HOOKS), fault] if fault else [sys.executable, "-m", "rm_lab"]
    return [*head, *RUN, *overrides, f"hydra.run.dir={folder}", f"paths.cache_dir={folder.parent / 'cache'}"]


def _cfg(folder: Path, *overrides: str):
    """The config `_command(folder, *overrides)` runs, for a check in this process."""
    cfg = compose([*RUN, *overrides])
    cfg.paths.output_dir, cfg.paths.cache_dir = str(folder), str(folder.parent / "cache")
    OmegaConf.resolve(cfg)
    return cfg


def _env() -> dict:
    return {**os.environ, "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}


def _cli(folder: Path, *overrides: str, fault: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_command(folder, *overrides, fault=fault), cwd=folder.parent, env=_env(),
                          capture_output=True, text=True, timeout=600)


def _clear_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The command failed with exit status 2 and one `rm_lab: error:` line naming `needles`, no traceback."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("rm_lab: error:")]
    for needle in needles:
        assert needle in line, line
    return line


def _snapshot(folder: Path) -> dict[str, bytes]:
    """The run's files (not Hydra's .hydra/ and log, which every command writes, nor the lock's own)."""
    skip = {RunDir.TRAIN_LOG, RunDir.LOCK, RunDir.LOCK_OWNER}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and RunDir.HYDRA not in p.parts and p.name not in skip}


def _metrics(folder: Path) -> list[dict]:
    with open(RunDir(folder).metrics, newline="") as handle:
        return list(csv.DictReader(handle))


def _train_steps(rows: list[dict]) -> list[int]:
    return [int(r["step"]) for r in rows if r.get("train/loss")]


# -- one run per folder; a resume checks its config and continues every log -------------------------
@pytest.mark.slow
def test_a_live_folder_refuses_runs_and_a_killed_one_resumes_only_with_its_config(tmp_path, fault_case):
    folder = tmp_path / "run"
    held = subprocess.Popen(_command(folder, "trainer.max_epochs=2", "trainer.log_every_n_steps=1",
                                     fault="hold_at_step=5"),
                            cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 400
        while not (folder / "HELD").exists():
            assert held.poll() is None and time.monotonic() < deadline, "the held run ended early"
            time.sleep(0.1)
        before = _snapshot(folder)
        rows_before = _metrics(folder)

        case = fault_case("second run into a live folder")
        proc = _cli(folder, "trainer.max_epochs=2", "trainer.log_every_n_steps=1")
        _clear_error(proc, "in use by a live run", f"process {held.pid}", f"host {socket.gethostname()}", "started ")
        case["clear"] = True
        assert _snapshot(folder) == before
        case["intact"] = True

        case = fault_case("resume into a live folder")  # in this process: the other one holds the OS lock
        with pytest.raises(RunFolderBusy, match=f"process {held.pid} on host"):
            run(_cfg(folder, "trainer.max_epochs=2", "trainer.log_every_n_steps=1", "resume=true"))
        case["clear"] = True
        assert _snapshot(folder) == before
        case["intact"] = True
    finally:
        os.kill(held.pid, signal.SIGKILL)
        held.wait()
    assert json.loads(RunDir(folder).results.read_text())["status"] == "running"

    case = fault_case("resume of a killed run with a changed config")
    with pytest.raises(ResumeConfigChanged, match=r"2 key\(s\): method.lr: 0.001 -> 0.002; seed: 0 -> 1\. .*"
                                                  r"resume_accept_changes=true"):
        run(_cfg(folder, "trainer.max_epochs=2", "trainer.log_every_n_steps=1", "resume=true", "seed=1",
                 "method.lr=2e-3"))
    case["clear"] = True
    assert _snapshot(folder) == before
    case["intact"] = True

    # the killed run's lock is taken over; the resume lists every epoch and every step once
    proc = _cli(folder, "trainer.max_epochs=2", "trainer.log_every_n_steps=1", "resume=true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(RunDir(folder).results.read_text())
    assert results["status"] == "completed"
    assert len(results["train_time"]["per_epoch_s"]) == 2
    train_pairs = sum(d["pairs"]["train"] for d in results["data"].values())
    rows = _metrics(folder)
    assert _train_steps(rows) == list(range(2 * math.ceil(train_pairs / 4)))
    kept = {r["step"]: r["train/loss"] for r in rows if r.get("train/loss")}
    assert all(kept[r["step"]] == r["train/loss"] for r in rows_before if r.get("train/loss"))
    assert not RunDir(folder).lock_owner.exists()


def test_a_second_lock_in_one_process_is_refused_naming_the_holder(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    with RunLock(run_dir):
        with pytest.raises(RunFolderBusy, match=f"process {os.getpid()} on host"):
            RunLock(run_dir).acquire()
    with RunLock(run_dir):  # released: free again
        assert json.loads(run_dir.lock_owner.read_text())["pid"] == os.getpid()


def test_resume_differences_name_training_keys_and_let_epochs_grow():
    stored = {"seed": 0, "method": {"lr": 1e-3}, "trainer": {"max_epochs": 2}, "paths": {"output_dir": "a"},
              "resume": False}
    assert differences(stored, {**stored, "trainer": {"max_epochs": 3}, "paths": {"output_dir": "b"},
                                "resume": True}) == []
    assert differences(stored, {**stored, "seed": 1, "trainer": {"max_epochs": 1}}) == [
        "seed: 0 -> 1", "trainer.max_epochs: 2 -> 1"]
    assert differences(stored, {**stored, "method": {"lr": 1e-3, "router_lr": 1e-4}}) == [
        "method.router_lr: '<absent>' -> 0.0001"]


# -- a full disk --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_records_the_failure(make_cfg, monkeypatch,
                                                                                        fault_case):
    ckpt_enospc_at(2, monkeypatch.setattr)  # the second checkpoint write fills the disk half way
    case = fault_case("full disk during a checkpoint")
    cfg = make_cfg("checkpoint.every_n_steps=2")
    with pytest.raises(RunWriteError, match=r"could not write \S+last.ckpt: No space left on device \(the "
                                            r"previous checkpoint is kept\).*resume=true"):
        run(cfg)
    case["clear"] = True
    folder = Path(cfg.paths.output_dir)
    results = json.loads(RunDir(folder).results.read_text())
    assert results["status"] == "failed" and "No space left on device" in results["error"]
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    kept = torch.load(RunDir(folder).last_checkpoint(), map_location="cpu", weights_only=True)
    assert kept["global_step"] == 2  # the first checkpoint, whole
    case["intact"] = True


class _FullDisk:
    """A file whose completed-results write stops half way with ENOSPC."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, text: str) -> int:
        if '"status": "completed"' in text:
            self.handle.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.handle.write(text)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.mark.slow
def test_a_full_disk_during_the_results_write_ends_failed_with_the_reason(make_cfg, tmp_path, monkeypatch,
                                                                          fault_case):
    def full_disk_open(path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        return _FullDisk(handle) if Path(path).name.startswith(".results.json") and "w" in mode else handle

    monkeypatch.setattr(rm_io, "open", full_disk_open, raising=False)
    case = fault_case("full disk during the results write")
    cfg = make_cfg("trainer.max_epochs=1")
    with pytest.raises(RunWriteError, match="No space left on device"):
        run(cfg)
    case["clear"] = True
    folder = Path(cfg.paths.output_dir)
    results = json.loads(RunDir(folder).results.read_text())
    assert results["status"] == "failed" and "results.json: No space left on device" in results["error"]
    assert results["accuracy"]["n"] > 0  # the blocks the run filled are kept
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    torch.load(RunDir(folder).best_checkpoint, map_location="cpu", weights_only=True)
    case["intact"] = True


# -- bad values: refused before any data is read, naming the key and the range ------------------------
BAD_VALUES = [
    ("dataset.max_pairs.train=0", "dataset.max_pairs.train must be null (no cap) or an integer >= 1, got 0"),
    ("dataset.max_pairs.validation=-1", "dataset.max_pairs.validation must be null (no cap) or an integer >= 1"),
    ("dataset.max_pairs.test=2.5", "dataset.max_pairs.test must be null (no cap) or an integer >= 1"),
    ("+dataset.max_pairs.test={hh_rlhf:0}", "dataset.max_pairs.test.hh_rlhf must be null (no cap)"),
    ("model.max_length=0", "model.max_length must be an integer >= 1, got 0"),
    ("trainer.max_epochs=0", "trainer.max_epochs must be an integer >= 1, got 0"),
    ("method.lr=abc", "method.lr must be a finite number > 0, got 'abc'"),
    ("method.lr=nan", "method.lr must be a finite number > 0, got nan"),
    ("method.lr=-0.01", "method.lr must be a finite number > 0, got -0.01"),
    ("method.lr=0", "method.lr must be a finite number > 0, got 0"),
    ("seed=-1", "seed must be an integer >= 0, got -1"),
    ("dataset.batch_size=0", "dataset.batch_size must be an integer >= 1, got 0"),
    ("dataset.eval_batch_size=-4", "dataset.eval_batch_size must be an integer >= 1, got -4"),
]


@pytest.mark.parametrize("override, message", BAD_VALUES, ids=[o for o, _ in BAD_VALUES])
def test_a_bad_value_is_refused_before_any_data_is_read(make_cfg, tmp_path, write_run, fault_case, override,
                                                        message):
    case = fault_case(f"bad value {override}")
    previous = write_run(tmp_path / "run" / "results.json", status="failed", error="an earlier attempt")
    before = previous.read_bytes()
    # the data file does not exist: reading it first would fail with another error
    cfg = make_cfg("dataset=hh_rlhf", "dataset.domains.hh_rlhf.path=/nowhere/hh.jsonl", override)
    with pytest.raises(ConfigValueError) as err:
        run(cfg)
    assert str(err.value).startswith(message)
    case["clear"] = True
    assert previous.read_bytes() == before and not RunDir(tmp_path / "run").lock.exists()
    case["intact"] = True


# -- unreadable data ----------------------------------------------------------------------------------
def test_a_corrupt_gzip_file_is_named_with_its_line(tmp_path, fault_case):
    case = fault_case("truncated .jsonl.gz")
    whole = gzip.compress(b"".join(b'{"chosen": "Human: hi Assistant: %d", "rejected": "x"}\n' % i
                                   for i in range(200)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataReadError, match=rf"cannot read {path} at line \d+: EOFError"):
        list(read_file(path, DropLog("hh_rlhf", "all")))
    case["clear"] = case["intact"] = True


def test_a_broken_json_list_is_named_with_its_line(tmp_path, fault_case):
    case = fault_case("broken .json list")
    path = tmp_path / "rows.json"
    path.write_text('[\n{"chosen": "a", "rejected": "b"},\n{"chosen": \n]\n')
    with pytest.raises(DataReadError, match=rf"{path} is not valid JSON \(line 4, column 1\)"):
        list(read_file(path, DropLog("hh_rlhf", "all")))
    case["clear"] = case["intact"] = True


def test_a_dataset_without_pairs_lists_why_and_keeps_the_counts(make_cfg, tmp_path, fault_case):
    case = fault_case("dataset that produced no pairs")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"chosen": "Human: hi Assistant: a", "rejected": "Human: hi Assistant: a"}\n'
                    '{"prompt": 1}\nnot json\n')
    cfg = make_cfg("dataset=hh_rlhf", f"dataset.domains.hh_rlhf.path={path}")
    with pytest.raises(NoPairsError, match=r"produced no pairs at all \(hh_rlhf: 1 invalid_json, "
                                           r"1 missing_field, 1 no_assistant_turn dropped\)"):
        run(cfg)
    case["clear"] = True
    results = json.loads(RunDir(cfg.paths.output_dir).results.read_text())
    assert results["status"] == "failed"
    assert results["data"]["hh_rlhf"]["dropped"]["all"] == {"invalid_json": 1, "missing_field": 1,
                                                            "no_assistant_turn": 1}
    case["intact"] = True


# -- a sweep run again in another order finds every job ---------------------------------------------
@pytest.mark.slow
def test_a_sweep_job_folder_follows_from_its_overrides_not_their_order(tmp_path):
    """Jobs named by their sorted overrides, `resume` left out: the same four folders whatever the
    order. The jobs stop at the plan stage (trainer.max_epochs=0 is refused there), so only the folders
    Hydra makes for them, and the overrides it writes in each, are compared."""
    sweep = tmp_path / "sweep"

    def sweep_in(*overrides: str) -> dict[str, list[str]]:
        proc = subprocess.run([sys.executable, "-m", "rm_lab", "-m", *overrides, "trainer.max_epochs=0",
                               f"hydra.sweep.dir={sweep}"], cwd=tmp_path, env=_env(), capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode != 0 and "trainer.max_epochs must be an integer >= 1" in proc.stderr
        return {str(p.parent.parent.relative_to(sweep)): sorted(yaml.safe_load(p.read_text()))
                for p in sweep.rglob(".hydra/overrides.yaml")}

    first = sweep_in("method.lr=1e-3,2e-3", "dataset.batch_size=4,8")
    assert len(first) == 4 and all(Path(job).name.startswith("job_") for job in first)
    assert len({tuple(o) for o in first.values()}) == 4
    again = sweep_in("dataset.batch_size=8,4", "resume=true", "method.lr=2e-3,1e-3")
    assert set(again) == set(first)  # no new folder: each job found its own
    for job, overrides in again.items():
        assert [o for o in overrides if not o.startswith("resume=")] == first[job]
    assert not list(sweep.rglob("results.json"))  # refused before any work


# -- opening a run folder safely: planted targets and pickles ------------------------------------------
# tests/test_open_safely.py records its planted cases (a `_target_` planted in results.json at every door
# that reads a run: score, export, serve, load_reward_model, reward_function, add_domain, train=false ckpt=,
# reward_stats; a pickle planted in best.ckpt or last.ckpt) with the same `fault_case` fixture, so the
# session's tally counts them beside the cases here.
