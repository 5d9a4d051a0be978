"""A job's local files read by a forked child while the job imports (rm_lab/data/read_ahead.py)."""
from __future__ import annotations

import logging
import os
import shutil
import time

import pytest

from rm_lab.core.config import sample_path
from rm_lab.data import read_ahead
from rm_lab.data.pair_source import PairSource
from rm_lab.runner.build import build_data

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the read-ahead forks")

ONE_DOMAIN = ["dataset=hh_rlhf", "dataset.max_pairs.train=40", "dataset.max_pairs.validation=8",
              "dataset.max_pairs.test=8"]


@pytest.fixture
def local_cfg(make_cfg, tmp_path):
    local = tmp_path / "hh.jsonl.gz"
    shutil.copy(sample_path("hh_rlhf/harmless-base-test.jsonl.gz"), local)
    return make_cfg(*ONE_DOMAIN, f"dataset.domains.hh_rlhf.path={local}")


def _reference(cfg):
    """The pairs and warnings of the same dataset read by the job itself, without a cache."""
    source = read_ahead.pair_source(cfg.dataset)
    source.cache_dir = None
    source.load_pairs()
    return source.pairs


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_job_reads_the_pairs_its_child_cached_and_says_its_warnings_once(local_cfg, monkeypatch, caplog):
    reference = _reference(local_cfg)
    caplog.clear()
    assert read_ahead.start(local_cfg.dataset)
    assert not read_ahead.start(local_cfg.dataset)  # one child per cache

    def unread(self, cache):
        raise AssertionError("the job read the files its child was reading")

    monkeypatch.setattr(PairSource, "read_and_cache", unread)  # the job's own, not the child's (forked before)
    with caplog.at_level(logging.WARNING):
        datamodule, _ = build_data(local_cfg)
    assert datamodule.pairs == reference and datamodule.num_pairs("train") == 40
    dropped = [w for w in _warnings(caplog) if "dropped" in w]
    assert dropped and len(dropped) == len(set(dropped))  # the child's words, said here, once
    assert not read_ahead.start(local_cfg.dataset)  # cached now: nothing to read ahead


def test_a_child_that_dies_leaves_the_job_to_read_the_files_itself(local_cfg, monkeypatch):
    reference = _reference(local_cfg)
    job, original = os.getpid(), PairSource.read_and_cache

    def dies_in_the_child(self, cache):
        if os.getpid() != job:
            os._exit(3)  # killed mid-read
        original(self, cache)

    monkeypatch.setattr(PairSource, "read_and_cache", dies_in_the_child)
    assert read_ahead.start(local_cfg.dataset)
    datamodule, _ = build_data(local_cfg)
    assert datamodule.pairs == reference
    cache = datamodule.pair_cache()
    assert cache.exists() and not [p for p in cache.folder.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_job_that_ends_first_stops_its_child_which_leaves_no_partial_cache(local_cfg, monkeypatch):
    job = os.getpid()

    class SlowSplits(dict):  # the second split's table never comes: the child is stopped mid-write
        def get(self, split, default=None):
            if split != "train":
                time.sleep(60)
            return super().get(split, default)

    def writes_slowly(self, cache):
        assert os.getpid() != job
        self._read_domains()
        cache.save({}, SlowSplits(self.pairs))

    monkeypatch.setattr(PairSource, "read_and_cache", writes_slowly)
    source = read_ahead.pair_source(local_cfg.dataset)
    cache = source.pair_cache()
    assert read_ahead.start(local_cfg.dataset)
    deadline = time.monotonic() + 60
    while not list(cache.folder.parent.glob(f".{cache.folder.name}.*.tmp/train.arrow")):  # mid-write
        assert time.monotonic() < deadline, "the child never began its cache"
        time.sleep(0.05)
    began = time.monotonic()
    read_ahead.stop()
    assert time.monotonic() - began < 10
    assert not cache.exists() and not list(cache.folder.parent.glob(".pairs-*"))
    assert not read_ahead.wait(cache)


def test_no_child_for_a_rank_of_a_multi_process_run_nor_for_data_without_a_cache(local_cfg, make_cfg, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert not read_ahead.start(local_cfg.dataset)
    monkeypatch.delenv("LOCAL_RANK")
    hub = make_cfg("dataset=hh_rlhf")  # the hub's pairs are not cached: nothing to read ahead
    assert read_ahead.pair_source(hub.dataset).pair_cache() is None
    assert not read_ahead.start(hub.dataset)
    assert not read_ahead.start(None)
