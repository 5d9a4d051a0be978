"""results.json has one schema in code: a version, core keys by status, method blocks that
cannot overwrite them, clear failures for files of another version, and readers that list such
files instead of stopping."""
from __future__ import annotations

import json

import pytest

from rm_lab.cli.results import main as results_cli
from rm_lab.rundir import results as schema
from rm_lab.rundir.results import (
    RESULTS_NAME,
    SCHEMA_VERSION,
    ResultsSchemaError,
    add_blocks,
    load_runs,
    read_results,
    upgrade_results,
    write_results,
)


def _full(write_run, path):
    return write_run(
        path, method="rodos", model="small", dataset="five", seed=1,
        labels={"method": "RODOS", "components": {"router": "Router", "reward_model": "RM"}},
        data={"hh_rlhf": {"source": "sample", "absent": None, "pairs": {"train": 4, "test": 2},
                          "available": {"train": 4, "test": 2}, "dropped": {}}},
        params={"total": 10, "trainable": 8, "by_component": {"router": {"total": 4, "trainable": 4}}},
        accuracy={"per_domain": {"hh_rlhf": {"accuracy": 0.5, "won": 1, "tied": 0, "lost": 1, "n": 2,
                                             "loss": 0.7}},
                  "average": 0.5, "overall": 0.5, "ties": 0, "loss": 0.7, "n": 2},
        train_time={"total_s": 4.0, "per_epoch_s": [1.0, 1.0], "by_component": {"router": 1.0,
                                                                                "reward_model/hh_rlhf": 3.0},
                    "pairs_per_s": None},
        inference={"seconds_total": 0.01, "inputs": 4, "seconds_per_input": 0.0025},
        router={"accuracy": 1.0},  # a method's own block
    )


def _v1(tmp_path, **fields):
    """A file as rm_lab wrote it before the schema had a version."""
    path = tmp_path / "old" / "baseline" / "m" / "d" / "seed_0" / RESULTS_NAME
    path.parent.mkdir(parents=True)
    record = {"status": "completed", "method": "baseline", "model": "m", "dataset": "d", "seed": 0,
              "experiment": "default", "output_dir": str(path.parent), "config": {}, "versions": {},
              "data": {}, "params": {"total": 1}, "accuracy": {"per_domain": {}, "average": 0.6},
              "train_time": {"total_s": 1.0}, "inference": {}, "wall_time_s": 2.0, **fields}
    path.write_text(json.dumps(record))
    return path


def test_a_full_record_round_trips_with_its_version_and_accessors(tmp_path, write_run):
    path = _full(write_run, tmp_path / "run" / RESULTS_NAME)
    run = read_results(path)
    assert run == json.loads(path.read_text()) and run["schema_version"] == SCHEMA_VERSION
    assert schema.average_accuracy(run) == 0.5 and schema.domain_accuracy(run, "hh_rlhf") == 0.5
    assert schema.total_params(run) == 10 and schema.inference_ms(run) == pytest.approx(2.5)
    assert schema.epoch_seconds(run) == pytest.approx(4.0)  # no epochs in the config: one
    assert schema.component_epoch_seconds(run) == {"router": 1.0, "reward_model/hh_rlhf": 3.0}
    assert schema.method_label(run) == "RODOS" and schema.component_labels(run)["reward_model"] == "RM"
    assert run["router"] == {"accuracy": 1.0}
    assert write_results(tmp_path / "again", dict(run)) == tmp_path / "again" / RESULTS_NAME  # a folder


def test_an_older_file_fails_with_what_to_do_and_can_be_upgraded(tmp_path):
    path = _v1(tmp_path)
    with pytest.raises(ResultsSchemaError) as err:
        read_results(path)
    message = str(err.value)
    assert str(path) in message and "version 1" in message and "older rm_lab" in message
    assert f"python -m rm_lab.results {path}" in message and "re-run" in message
    assert upgrade_results(path) is True
    run = read_results(path)
    assert run["schema_version"] == SCHEMA_VERSION and run["labels"] == {"method": "baseline", "components": {}}
    assert upgrade_results(path) is False  # already current


def test_the_upgrade_command_reports_files_it_cannot_upgrade(tmp_path, capsys):
    _v1(tmp_path)
    broken = tmp_path / "old" / "x" / "m" / "d" / "seed_1" / RESULTS_NAME
    broken.parent.mkdir(parents=True)
    broken.write_text('{"status": "completed"}')  # an old file that lacks the run's blocks
    assert results_cli([str(tmp_path / "old")]) == 1
    captured = capsys.readouterr()
    assert "upgraded" in captured.out and "1 of 2 results files" in captured.out
    assert "lacks" in captured.err and str(broken) in captured.err


def test_a_newer_or_unknown_version_fails_clearly(tmp_path, write_run):
    path = write_run(tmp_path / "run" / RESULTS_NAME)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ResultsSchemaError, match=f"version {SCHEMA_VERSION + 1}, newer than this rm_lab "
                                                 f"reads \\({SCHEMA_VERSION}\\): update rm_lab"):
        read_results(path)
    path.write_text(json.dumps({**record, "schema_version": "two"}))
    with pytest.raises(ResultsSchemaError, match="version 'two', which no rm_lab writes"):
        read_results(path)


@pytest.mark.parametrize("text, says", [("{cut", "not valid JSON"), ("[1, 2]", "expected a JSON object, found list")])
def test_a_file_that_is_not_a_results_object_fails_clearly(tmp_path, text, says):
    path = tmp_path / RESULTS_NAME
    path.write_text(text)
    with pytest.raises(ResultsSchemaError, match=says):
        read_results(path)


def test_core_keys_are_checked_by_status(tmp_path, write_run):
    path = write_run(tmp_path / "run" / RESULTS_NAME, status="running")
    assert read_results(path)["status"] == "running"  # a running record has only its identity
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "status": "completed"}))
    with pytest.raises(ResultsSchemaError, match=r"status completed\) lacks \['data', 'params', 'labels'"):
        read_results(path)
    path.write_text(json.dumps({**record, "status": "done"}))
    with pytest.raises(ResultsSchemaError, match="status 'done'"):
        read_results(path)


def test_reports_list_old_and_newer_files_as_unreadable_with_the_message(tmp_path, write_run):
    old = _v1(tmp_path)
    newer = write_run(tmp_path / "old" / "more" / "m" / "d" / "seed_3" / RESULTS_NAME)
    newer.write_text(json.dumps({**json.loads(newer.read_text()), "schema_version": 99}))
    runs = {r["path"]: r for r in load_runs(tmp_path / "old")}
    for path in (old, newer):
        run = runs[str(path.resolve())]
        assert run["status"] == "unreadable" and str(path.resolve()) in run["error"]
    assert "version 1" in runs[str(old.resolve())]["error"]
    assert runs[str(newer.resolve())]["error"].count("version 99") == 1
    assert (runs[str(newer.resolve())]["method"], runs[str(newer.resolve())]["seed"]) == ("more", 3)


def test_an_extra_block_may_not_overwrite_a_core_key_or_another_block():
    results = {"status": "running", "embedding": {"computed": 3}}
    add_blocks(results, {"router": {"accuracy": 1.0}})
    assert results["router"] == {"accuracy": 1.0}
    for taken in ("accuracy", "status", "labels", "embedding", "router"):
        with pytest.raises(ResultsSchemaError, match=f"\\['{taken}'\\] would overwrite"):
            add_blocks(results, {taken: {}})
    assert results == {"status": "running", "embedding": {"computed": 3}, "router": {"accuracy": 1.0}}


@pytest.mark.slow
def test_the_runner_writes_the_schema_version(make_cfg, tmp_path):
    from rm_lab.runner.run import run

    run(make_cfg("seed=0", "train=false"))
    on_disk = read_results(tmp_path / "run" / RESULTS_NAME)
    assert on_disk["schema_version"] == SCHEMA_VERSION and on_disk["status"] == "completed"
    assert on_disk["labels"] == {"method": "Baseline", "components": {"reward_model": "RM"}}
    assert set(schema.REQUIRED["completed"]) <= set(on_disk)
