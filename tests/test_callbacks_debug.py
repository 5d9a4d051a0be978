"""The callbacks group and trainer.callbacks merged with rm_lab's own callbacks; debug runs marked
in results.json and skipped by reports."""
from __future__ import annotations

import csv
import json

import pytest
from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

from rm_lab.eval.timing import EpochTimer
from rm_lab.report.grouping import group_runs
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.results import best_validation_accuracy, completed, load_runs
from rm_lab.runner.build import build_trainer
from rm_lab.runner.debug import debug_name
from rm_lab.runner.run import run

EXTRA = "+trainer.callbacks=[{_target_: pytorch_lightning.callbacks.LearningRateMonitor, logging_interval: epoch}]"


def test_group_and_trainer_callbacks_are_added_to_rm_labs_own(make_cfg, tmp_path):
    cfg = make_cfg("callbacks=[lr_monitor,model_checkpoint,early_stopping]", EXTRA)
    own = EpochTimer()
    trainer = build_trainer(cfg, callbacks=[own], component="router")
    kinds = [type(c) for c in trainer.callbacks]
    assert own in trainer.callbacks and EarlyStopping in kinds and ModelCheckpoint in kinds
    monitors = [c for c in trainer.callbacks if isinstance(c, LearningRateMonitor)]
    assert sorted(m.logging_interval for m in monitors) == ["epoch", "step"]  # the group's and the command line's
    (checkpoint,) = [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)]
    assert checkpoint.dirpath == str(RunDir(cfg.paths.output_dir).callback_checkpoints("router"))
    assert not any(isinstance(c, ModelCheckpoint) for c in build_trainer(make_cfg()).callbacks)


@pytest.mark.parametrize("override, message", [
    ("+trainer.callbacks=[pytorch_lightning.callbacks.LearningRateMonitor]", r"trainer.callbacks\[0\] is not a callback"),
    ("+trainer.callbacks=[{logging_interval: step}]", "give a node with a _target_"),
    ("+trainer.callbacks={_target_: pytorch_lightning.callbacks.LearningRateMonitor}", "must be a list"),
])
def test_callbacks_that_are_not_target_nodes_are_refused_with_what_to_write(make_cfg, override, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        build_trainer(make_cfg(override))
    with pytest.raises(ValueError, match=message):  # by the runner, before any work
        run(make_cfg(override))
    assert not (tmp_path / "run").exists()


def test_debug_choices_and_lightning_switches_mark_the_run(make_cfg):
    assert debug_name(make_cfg()) is None
    assert debug_name(make_cfg("trainer.limit_train_batches=2")) is None  # a limit alone is a real setting
    for choice in ("fast_dev_run", "overfit_batches", "limit_batches", "profiler"):
        assert debug_name(make_cfg(f"debug={choice}")) == choice
    assert debug_name(make_cfg("+trainer.fast_dev_run=true")) == "fast_dev_run"
    assert make_cfg("debug=overfit_batches").trainer.overfit_batches == 2


def test_best_validation_accuracy_is_the_selected_epochs_or_the_parts_mean():
    assert best_validation_accuracy({"validation": {"best_accuracy": 0.75}, "accuracy": {"average": 0.1}}) == 0.75
    parts = {"router": {"best_accuracy": 0.9}, "reward_model/shp": {"best_accuracy": 0.6}}
    assert best_validation_accuracy({"validation": {"best_accuracy": None, "by_component": parts}}) == \
        pytest.approx(0.75)
    assert best_validation_accuracy({"accuracy": {"average": 0.5}}) is None


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A tiny run with the callbacks group and a trainer callback, and a fast_dev_run debug run."""
    from rm_lab.core.config import compose
    from tests.conftest import TINY

    root = tmp_path_factory.mktemp("runs")
    done = {}
    for name, overrides in (("real", ["callbacks=[lr_monitor,model_checkpoint]", EXTRA, "dataset.max_pairs.test=4"]),
                            ("debug", ["debug=fast_dev_run", "dataset.max_pairs.test=4"])):
        cfg = compose([*TINY, *overrides, f"paths.cache_dir={root / 'cache'}"])
        cfg.paths.output_dir = str(root / "sweep" / name / "baseline" / "tiny-deberta" / "d" / "seed_0")
        done[name] = run(cfg)
    return root / "sweep", done


@pytest.mark.slow
def test_configured_callbacks_run_in_the_fit(two_runs):
    sweep, done = two_runs
    folder = RunDir(done["real"]["output_dir"])
    with open(folder.metrics) as f:
        columns = next(csv.reader(f))
    assert "lr-AdamW" in columns  # LearningRateMonitor logged to the run's CSV logger
    saved = sorted(p.name for p in folder.callback_checkpoints("reward_model").iterdir())
    assert saved == [f"epoch_{done['real']['validation']['best_epoch']}.ckpt"]  # top 1 by val/accuracy/average
    assert folder.last_checkpoint().exists() and folder.best_checkpoint.exists()  # rm_lab's own, as before
    assert best_validation_accuracy(done["real"]) == done["real"]["validation"]["best_accuracy"] is not None


@pytest.mark.slow
def test_a_debug_run_is_marked_and_reports_skip_it(two_runs):
    sweep, done = two_runs
    stored = json.loads(RunDir(done["debug"]["output_dir"]).results.read_text())
    assert stored["debug"] == "fast_dev_run" and stored["status"] == "completed"
    assert "debug" not in done["real"]
    runs = load_runs(sweep)
    assert [completed(r) for r in sorted(runs, key=lambda r: r["path"])] == [False, True]  # debug/, real/
    rows, notes = group_runs(runs)
    (row,) = rows.values()
    assert [r["output_dir"] for r in row.runs] == [done["real"]["output_dir"]] and not row.failed
    assert any(n.startswith("skipped 1 debug run(s) (fast_dev_run)") for n in notes)
