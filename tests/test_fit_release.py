"""A composite method's component fits leave no training state behind; figures of what was trained."""
from __future__ import annotations

import gc
import mmap
import weakref

import pytest
import pytorch_lightning as pl

from rm_lab.eval.memory import PeakMemory
from rm_lab.eval.timing import EpochTimer
from rm_lab.methods.fit_schedule import FitSchedule
from rm_lab.rundir.layout import RunDir
from rm_lab.runner.build import build_data, build_method
from rm_lab.runner.run import TrainerFactory, run

SMALL = ["dataset.max_pairs.train=8", "dataset.max_pairs.test=6", "dataset.batch_size=4", "logger=none",
         "checkpoint.last=false"]


class _Watch(pl.Callback):
    """Weak references to each fit's trainer and optimizers, taken while the fit runs."""

    def __init__(self, refs: list):
        self.refs = refs

    def on_train_start(self, trainer, pl_module):
        self.refs += [weakref.ref(trainer), *(weakref.ref(o) for o in trainer.optimizers)]


@pytest.mark.slow
def test_component_fits_leave_no_optimizer_gradient_or_trainer_behind(make_cfg, tmp_path):
    cfg = make_cfg("method=rodos", *SMALL)
    dm, backbone = build_data(cfg)
    module = build_method(cfg.method, data=dm, backbone=backbone, domains=dm.domain_names)
    factory = TrainerFactory(cfg, [], EpochTimer(), RunDir(tmp_path / "run"), whole=False)
    refs: list = []

    def make_trainer(**kwargs):
        trainer = factory(**kwargs)
        trainer.callbacks.append(_Watch(refs))
        return trainer

    fitted = []
    with PeakMemory() as run_peak:
        for done in FitSchedule(module.plan, 0).fits(module.component_fit, make_trainer, dm):
            fitted.append(done)
            # no gc.collect() here: the schedule itself must have let go of the finished fits
            alive = [r() for r in refs if r() is not None]
            assert not alive, f"after {done.name}: {[type(o).__name__ for o in alive]} still referenced"
            part = module.module_of(done.name)
            assert all(p.grad is None for p in part.parameters()), f"{done.name} kept its gradients"
            assert done.peak_bytes and done.peak_bytes > 0
    assert [d.name for d in fitted] == list(module.plan.names)
    assert len(refs) >= 2 * len(fitted)  # a trainer and an optimizer watched per fit
    assert all(b._weights is None for b in factory.selectors)  # the best epoch's copies are dropped
    assert all(b.summary()["restored"] for b in factory.selectors)
    assert run_peak.bytes >= max(d.peak_bytes for d in fitted)  # the outer watch sees the inner peaks
    gc.collect()


@pytest.mark.slow
def test_pairs_per_s_counts_the_pairs_max_steps_trained(make_cfg):
    results = run(make_cfg(*SMALL, "++trainer.max_steps=1"))
    timing = results["train_time"]
    assert results["data"]["hh_rlhf"]["pairs"]["train"] == 8  # 24 train pairs over 3 domains, 6 batches
    assert timing["pairs_trained"] == 4  # one step of batch 4, not the epoch's 24
    assert timing["pairs_per_s"] == pytest.approx(4 / sum(timing["per_epoch_s"]))
    assert timing["peak_memory_bytes"] > 0 and timing["first_step_s"] > 0
    assert 0 < timing["first_batch_s"] < timing["first_step_s"]  # the step began, then ended


def test_peak_memory_watches_nest():
    with PeakMemory() as outer:
        with PeakMemory() as inner:
            block = mmap.mmap(-1, 64 << 20)  # 64 MiB of its own pages, touched, then unmapped: truly given back
            for offset in range(0, len(block), 4096):  # (a freed bytearray may stay in the heap)
                block[offset] = 1
        block.close()
        with PeakMemory() as after:
            pass
    assert inner.bytes >= 64 << 20
    assert outer.bytes >= inner.bytes  # the inner watch's reset does not hide its peak from the outer one
    assert after.bytes < inner.bytes
