"""Finding and reading results.json files: good, failed and broken runs are all returned."""
from __future__ import annotations

import pytest

from rm_lab.rundir.results import completed, identity_from_path, load_runs


def _broken(root, rel, text):
    path = root / rel / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_runs_reads_good_failed_and_broken_files(tmp_path, write_run):
    sweep = tmp_path / "multirun" / "offline" / "2026-01-01_00-00-00"
    good = write_run(sweep / "baseline/tiny/five/seed_0/results.json", accuracy={"average": 0.5})
    failed = write_run(sweep / "baseline/tiny/five/seed_1/results.json", status="failed", error="boom")
    broken = _broken(sweep, "more/tiny/five/seed_2", "{not json")
    runs = load_runs(tmp_path / "multirun")
    assert [r["path"] for r in runs] == sorted(str(p.resolve()) for p in (good, failed, broken))
    by_path = {r["path"]: r for r in runs}
    assert completed(by_path[str(good.resolve())])
    bad = by_path[str(failed.resolve())]
    assert not completed(bad) and bad["error"] == "boom"
    assert (bad["method"], bad["model"], bad["dataset"], bad["seed"]) == ("baseline", "tiny", "five", 1)
    unreadable = by_path[str(broken.resolve())]
    assert unreadable["status"] == "unreadable" and "JSONDecodeError" in unreadable["error"]
    assert (unreadable["method"], unreadable["seed"]) == ("more", 2)


def test_overlapping_paths_give_each_file_once(tmp_path, write_run):
    path = write_run(tmp_path / "baseline/m/d/seed_0/results.json")
    runs = load_runs(tmp_path, path.parent, path)
    assert len(runs) == 1


def test_missing_path_names_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="sweep folder"):
        load_runs(tmp_path / "nope")
    with pytest.raises(ValueError, match="multirun"):
        load_runs()


def test_identity_from_run_layout_with_timestamp_below_seed():
    ident = identity_from_path("runs/default/rodos/minilm-l6/five/seed_4/2026-01-01_00-00-00/results.json")
    assert ident == {"method": "rodos", "model": "minilm-l6", "dataset": "five", "seed": 4}
    assert identity_from_path("somewhere/results.json") == {}
