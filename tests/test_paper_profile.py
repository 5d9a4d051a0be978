"""The router paper's profile: per-domain data sizes, batch by backbone, parameter counts,
ARLISS timed merged and unmerged, and the notes the paper's tables need."""
from __future__ import annotations

import logging

import pytest
from hydra.utils import instantiate

from rm_lab.core.config import compose
from rm_lab.data.datamodule import PreferenceDataModule
from rm_lab.report.paper_tables import HELLASWAG_NOTE, build_tables
from rm_lab.runner.run import run
from rm_lab.studies.param_table import rows

PAPER_EXPERIMENTS = ["paper_baseline", "paper_base_lora", "paper_more", "paper_rodos", "paper_arliss"]
PAPER_TRAIN = {"hh_rlhf": 80307, "shp": 19493, "hellaswag": 19952, "dahoas": 14913, "oasst": 6176}
PAPER_TEST = {"hh_rlhf": 8539, "shp": 2166, "hellaswag": 10003, "dahoas": 3313, "oasst": 668}
CAPS = "{hh_rlhf:37,hellaswag:23,oasst:100000}"  # oasst's bundled sample has fewer train pairs


def _sample_data(make_cfg, *overrides: str) -> PreferenceDataModule:
    cfg = make_cfg("dataset=five_domains_sample", f"dataset.max_pairs.train={CAPS}", *overrides)
    dm = instantiate(cfg.dataset, _convert_="all")
    dm.load_pairs()
    return dm


def test_per_domain_caps_draw_exact_seeded_samples(make_cfg, caplog):
    with caplog.at_level(logging.WARNING, logger="rm_lab.data.datamodule"):
        dm = _sample_data(make_cfg)
    counts = dm.counts()
    assert counts["hh_rlhf"]["pairs"]["train"] == 37
    assert counts["hellaswag"]["pairs"]["train"] == 23
    oasst = counts["oasst"]
    assert 0 < oasst["pairs"]["train"] == oasst["available"]["train"] < 100000  # fewer: all it has
    assert f"domain oasst, train split: {oasst['available']['train']} pairs available, fewer than its cap " \
           "of 100000" in caplog.text
    assert "domain hh_rlhf, train" not in caplog.text
    assert counts["hh_rlhf"]["pairs"]["test"] == 12  # the scalar form still caps every domain

    ids = [p.id for p in dm.pairs["train"]]
    assert [p.id for p in _sample_data(make_cfg).pairs["train"]] == ids  # same data_seed, same pairs
    other = _sample_data(make_cfg, "dataset.data_seed=1")
    assert other.counts()["hh_rlhf"]["pairs"]["train"] == 37
    assert [p.id for p in other.pairs["train"] if p.domain == "hh_rlhf"] != \
        [p.id for p in dm.pairs["train"] if p.domain == "hh_rlhf"]


@pytest.mark.parametrize("caps, message", [
    ({"train": {"hh_rlhf": 5, "wikipedia": 3}}, "unknown domains"),
    ({"train": {"hh_rlhf": -1}}, "integers >= 1"),
    ({"test": 2.5}, "integers >= 1"),
    ({"train": 0}, "integers >= 1"),
])
def test_bad_caps_fail_before_any_data_is_read(caps, message):
    from rm_lab.data.domains.hh_rlhf import HHRLHF

    with pytest.raises(ValueError, match=message):
        PreferenceDataModule({"hh_rlhf": HHRLHF(path="/nowhere.jsonl")}, max_pairs=caps, cache_dir=None)


@pytest.mark.parametrize("experiment", PAPER_EXPERIMENTS)
def test_every_paper_experiment_uses_the_paper_sizes(experiment):
    cfg = compose([f"experiment={experiment}"])
    assert cfg.dataset.name == "five_domains_paper"
    assert dict(cfg.dataset.max_pairs.train) == PAPER_TRAIN and sum(PAPER_TRAIN.values()) == 140841
    assert dict(cfg.dataset.max_pairs.test) == PAPER_TEST and sum(PAPER_TEST.values()) == 24689
    assert set(cfg.dataset.max_pairs.validation) == set(PAPER_TRAIN)
    assert cfg.method.lr == 5e-6


@pytest.mark.parametrize("experiment", PAPER_EXPERIMENTS)
def test_the_paper_profile_trains_deberta_large_at_batch_8(experiment):
    assert compose([f"experiment={experiment}", "model=deberta-v3-large"]).dataset.batch_size == 8
    assert compose([f"experiment={experiment}", "model=deberta-v3-base"]).dataset.batch_size == 32
    assert compose([f"experiment={experiment}", "model=deberta-v3-large",
                    "dataset.batch_size=4"]).dataset.batch_size == 4


def test_paper_arliss_measures_unmerged_adapters():
    assert compose(["experiment=paper_arliss"]).method.merge_at_inference is False
    assert compose(["method=arliss"]).method.merge_at_inference is True


@pytest.mark.parametrize("method, offline_lr", [("baseline", 6e-5), ("base_lora", 3e-5), ("more", 1e-4),
                                               ("rodos", 1e-4), ("arliss", 1e-4)])
def test_offline_tables_use_each_methods_swept_lr_and_the_paper_keeps_its_own(method, offline_lr):
    offline = compose(["experiment=tables_offline", f"method={method}"])
    assert offline.method.lr == offline_lr
    assert dict(offline.dataset.max_pairs) == {"train": 100, "validation": 16, "test": 64}
    assert compose([f"experiment=paper_{method}"]).method.lr == 5e-6


def test_param_table_has_base_lora_within_one_percent_of_the_paper():
    (row,) = rows(["base_lora"], ["deberta-v3-base"])
    assert row["paper_m"] == 187
    assert abs(row["total_m"] - 187) / 187 < 0.01
    assert row["trainable_m"] < 0.02 * row["total_m"]  # LoRA: the backbone is frozen
    assert row["paper_of_largest_pct"] == pytest.approx(100 * 187 / 435)  # the paper's 43.0%


def _run(method, accs, **extra):
    per = {d: {"accuracy": a, "won": 0, "tied": 0, "lost": 0, "n": 10, "loss": 0.6} for d, a in accs.items()}
    return {"status": "completed", "method": method, "model": "m", "dataset": "five", "seed": 0,
            "config": {}, "labels": {"method": method.upper()}, "data": {d: {"absent": None} for d in accs},
            "params": {"total": 10, "trainable": 10}, "accuracy": {"per_domain": per, "average": 0.6},
            "train_time": {"total_s": 1.0, "per_epoch_s": [1.0], "by_component": {}},
            "inference": {"seconds_per_input": 0.004, "inputs": 64}, **extra}


def test_table2_notes_the_papers_hellaswag_split_only_when_hellaswag_is_shown():
    (with_hs,) = build_tables([_run("baseline", {"hh_rlhf": 0.6, "hellaswag": 0.7})], ["2"])
    (without,) = build_tables([_run("baseline", {"hh_rlhf": 0.6})], ["2"])
    assert HELLASWAG_NOTE in with_hs.notes and "unlabelled 10,003-row test split" in HELLASWAG_NOTE
    assert HELLASWAG_NOTE not in without.notes


def test_table6_shows_arliss_merged_beside_unmerged():
    runs = [_run("rodos", {"hh_rlhf": 0.6}),
            _run("arliss", {"hh_rlhf": 0.6}, inference_time_per_input_merged=0.002,
                 inference_time_per_input_unmerged=0.005)]
    (table,) = build_tables(runs, ["6"])
    arliss = next(r for r in table.rows if r.method == "arliss")
    rodos = next(r for r in table.rows if r.method == "rodos")
    assert arliss.cells["inference_ms/merged"].summary.mean == pytest.approx(2.0)
    assert arliss.cells["inference_ms/unmerged"].summary.mean == pytest.approx(5.0)
    assert "inference_ms/merged" not in rodos.cells
    assert any("merge_at_inference" in note for note in table.notes)


@pytest.mark.slow
def test_arliss_times_both_merge_settings_in_one_test_pass(make_cfg):
    results = run(make_cfg("method=arliss", "method.merge_at_inference=false", "dataset.max_pairs.train=8",
                           "dataset.max_pairs.test=6", "dataset.batch_size=4"))
    merged, unmerged = results["inference_time_per_input_merged"], results["inference_time_per_input_unmerged"]
    assert merged > 0 and unmerged > 0
    assert results["inference"]["seconds_per_input"] == unmerged  # the run's own setting
    assert results["inference"]["per_input"]["inputs"] > 0
