"""Pairs and tokens are read once: the second datamodule over the same files starts from the caches,
with the same pairs, counts and tokens; parallel tokenizing gives the tokens of one process."""
from __future__ import annotations

import gzip
import os
import shutil

import pytest

import rm_lab.data.datamodule as datamodule
from rm_lab.core.config import sample_path
from rm_lab.data.pair_cache import PairCache
from rm_lab.runner.build import build_data
from rm_lab.studies.paper_data import DOMAINS, base_rows, copies

ONE_DOMAIN = ["dataset=hh_rlhf", "dataset.max_pairs.train=40", "dataset.max_pairs.validation=8",
              "dataset.max_pairs.test=8"]


def _cache(dm) -> PairCache:
    return PairCache.of(dm.cache_dir, dm.name, dm.domains, dm.max_pairs, dm.data_seed)


def _tables(dm) -> dict:
    return {split: table.to_dict() for split, table in dm.tokenized.items()}


def test_a_second_datamodule_reads_pairs_and_tokens_from_the_caches(make_cfg, tmp_path, monkeypatch):
    local = tmp_path / "hh.jsonl.gz"
    shutil.copy(sample_path("hh_rlhf/harmless-base-test.jsonl.gz"), local)
    cfg = make_cfg(*ONE_DOMAIN, f"dataset.domains.hh_rlhf.path={local}")
    first, _ = build_data(cfg)
    cache = _cache(first)
    assert cache is not None and cache.exists()

    def unread(*args, **kwargs):
        raise AssertionError("the second datamodule read the files again")

    monkeypatch.setattr(datamodule.PreferenceDataModule, "_read_domains", unread)
    second, _ = build_data(cfg)
    assert second.pairs == first.pairs and second.counts() == first.counts()
    assert _tables(second) == _tables(first)
    monkeypatch.undo()

    with gzip.open(local, "at", encoding="utf-8") as handle:  # new content: a new key, read again
        handle.write('{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: a", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: b"}\n')
    assert _cache(build_data(cfg)[0]).folder != cache.folder


def test_tokenizing_in_worker_processes_gives_the_tokens_of_one(make_cfg, monkeypatch):
    # worker processes run the whole (prompt, response) calls: the path of tokenizers that cannot share prompts
    monkeypatch.setattr(datamodule.SharedPrompt, "of", classmethod(lambda cls, *a: None))
    def uncached(*overrides):
        cfg = make_cfg(*ONE_DOMAIN, f"dataset.domains.hh_rlhf.path={sample_path('hh_rlhf/harmless-base-test.jsonl.gz')}",
                       *overrides)
        cfg.dataset.cache_dir = None  # each tokenizes for itself
        return build_data(cfg)[0]

    serial = uncached("dataset.tokenize_processes=1")
    monkeypatch.setattr(datamodule, "PARALLEL_ROWS", 4)
    parallel = uncached("dataset.tokenize_processes=2")
    assert serial.num_pairs("train") == 40
    assert _tables(parallel) == _tables(serial)


def test_paper_size_copies_are_distinct_pairs_of_each_domain(make_cfg):
    from hydra.utils import instantiate

    from rm_lab.data.pairs import DropLog

    cfg = make_cfg("dataset=five_domains_paper")
    for domain in DOMAINS:
        base, per_copy = base_rows(domain)
        base = base[:6]
        converter = instantiate(cfg.dataset.domains[domain], path=None, hub=None)
        one = list(converter.convert(list(copies(domain, 0, base)), DropLog(domain, "all")))
        two = list(converter.convert([*copies(domain, 0, base), *copies(domain, 1, base)], DropLog(domain, "all")))
        assert one and len(two) == 2 * len(one), domain
        assert len({p.id for p in two}) == len(two), domain  # the tag makes every copy a new pair
        assert len({p.split_key for p in two}) == 2 * len({p.split_key for p in one}), domain  # and a new group


def test_a_pair_tagged_with_its_source_keeps_every_other_field():
    from dataclasses import fields, replace

    from rm_lab.data.pairs import Pair

    pair = Pair("d:1", "d", "p", "c", "r", group="g", source="", margin=2.0, attributes=((1.0,), (0.5,)))
    tagged = pair.with_source("file.jsonl")
    assert tagged.to_dict() == replace(pair, source="file.jsonl").to_dict()
    assert len(fields(Pair)) == 9  # Pair.with_source passes every field: a new one goes there too


def test_a_column_read_through_arrow_is_the_rows_of_a_selection():
    import datasets

    table = datasets.Dataset.from_dict({"length": [5, 1, 4, 2], "id": ["a", "b", "c", "d"]})
    chosen = table.select([3, 0, 2])
    assert datamodule.column(chosen, "length") == [2, 5, 4] == list(chosen["length"])
    assert datamodule.column(table, "id") == ["a", "b", "c", "d"]


def test_the_bench_counts_worker_processes_memory():
    """`make bench-data`'s process-tree memory includes a child's own pages (here 300 MB it wrote)."""
    import subprocess
    import sys
    import time

    from rm_lab.studies.paper_data import tree_pss

    alone = tree_pss(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; x = bytearray(300_000_000); "
                              "x[::4096] = b'1' * len(x[::4096]); print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        assert tree_pss(os.getpid()) - alone > 250e6
    finally:
        child.kill()
        child.wait()


def _sample_domains(make_cfg) -> dict:
    from hydra.utils import instantiate

    cfg = make_cfg("dataset=five_domains_sample")
    return dict(instantiate(cfg.dataset, _convert_="all").domains)


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[n].pairs == b[n].pairs and a[n].dropped == b[n].dropped
                                      and a[n].source == b[n].source and a[n].absent == b[n].absent for n in a)


def test_domains_read_half_in_a_forked_worker_are_the_domains_read_alone(make_cfg, monkeypatch, caplog):
    import logging

    from rm_lab.data import domain_reading

    domains = _sample_domains(make_cfg)
    with caplog.at_level(logging.WARNING):
        alone = domain_reading.read_domains(domains, 1)
    said_alone = sorted(r.getMessage() for r in caplog.records)
    caplog.clear()
    assert sum(len(s.pairs["train"]) for s in alone.values()) > 100
    monkeypatch.setattr(domain_reading, "PARALLEL_BYTES", 0)
    away, here = domain_reading.deal({n: domain_reading.local_bytes(d) for n, d in domains.items()})
    assert away and here and sorted(away + here) == sorted(domains)

    def read_here_only(names):  # what the worker reads, proven to come from it
        if os.getpid() == parent:
            calls.append(names)
        return {n: domains[n].load() for n in names}

    parent, calls = os.getpid(), []
    monkeypatch.setattr(domain_reading, "_read", read_here_only)
    with caplog.at_level(logging.WARNING):
        assert _same(domain_reading.read_domains(domains, 2), alone)
    assert calls == [here]  # this process read its half only: the other half came from the worker
    said = sorted(r.getMessage() for r in caplog.records)
    assert said == said_alone and any("hh_rlhf" in m and "dropped" in m for m in said)  # the worker's, said here


def test_a_worker_that_dies_or_fails_leaves_its_domains_to_this_process(make_cfg, monkeypatch):
    from rm_lab.data import domain_reading

    domains = _sample_domains(make_cfg)
    alone = domain_reading.read_domains(domains, 1)
    monkeypatch.setattr(domain_reading, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(domain_reading, "_worker", lambda names, send: os._exit(9))  # killed mid-read
    assert _same(domain_reading.read_domains(domains, 2), alone)
    assert domain_reading._DOMAINS == {}

    def failing(names, send):
        send.send(("failed", "OSError: disk gone"))
    monkeypatch.setattr(domain_reading, "_worker", failing)
    assert _same(domain_reading.read_domains(domains, 2), alone)


def test_domains_are_dealt_into_two_sets_of_about_equal_size():
    from rm_lab.data.domain_reading import deal

    away, here = deal({"hh": 43, "hellaswag": 24, "dahoas": 13, "shp": 10, "oasst": 6})
    assert sorted(away + here) == ["dahoas", "hellaswag", "hh", "oasst", "shp"]
    sizes = {"hh": 43, "hellaswag": 24, "dahoas": 13, "shp": 10, "oasst": 6}
    assert abs(sum(sizes[n] for n in away) - sum(sizes[n] for n in here)) <= 6
    assert deal({"a": 5}) == (["a"], [])


@pytest.mark.slow
def test_bench_data_times_both_jobs_and_removes_its_own_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    from rm_lab.studies.paper_data import bench_data

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    result = bench_data(tmp_path / "files", scale=0.002, overrides=["model=tiny-deberta", "model.max_length=64"])
    first, second = result["first_job"], result["second_job"]
    assert first["train_pairs"] == second["train_pairs"] > 100
    assert 0 < first["first_batch_s"] <= first["first_step_s"] <= first["wall_s"]
    assert 0 < second["first_batch_s"] <= second["wall_s"]
    assert result["work_dir"] is None and list((tmp_path / "tmp").iterdir()) == []  # 1.2 GB at full size
