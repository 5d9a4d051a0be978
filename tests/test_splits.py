"""Splits keep a prompt's pairs together; caps draw a seeded sample over all of a domain's files."""
from __future__ import annotations

import json

from hydra.utils import instantiate

from rm_lab.data.datamodule import PreferenceDataModule
from rm_lab.data.domains.dahoas import Dahoas
from rm_lab.data.domains.shp import SHP


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _shared_prompt_rows(prompts: int, per_prompt: int, tag: str = ""):
    return [{"prompt": f"{tag}question {i}?", "chosen": f"good answer {i}.{j}", "rejected": f"bad answer {i}.{j}"}
            for i in range(prompts) for j in range(per_prompt)]


def test_pairs_sharing_a_prompt_never_straddle_the_split(tmp_path):
    path = _write(tmp_path / "dahoas.jsonl", _shared_prompt_rows(40, 5))
    dm = PreferenceDataModule({"dahoas": Dahoas(path=str(path), test_fraction=0.3)}, cache_dir=None)
    dm.load_pairs()
    train = {p.prompt for p in dm.pairs["train"]}
    test = {p.prompt for p in dm.pairs["test"]}
    assert train and test and not train & test
    validation = {p.prompt for p in dm.pairs["validation"]}
    assert validation and not validation & (train | test)
    assert sum(len(pairs) for pairs in dm.pairs.values()) == 200
    counts = dm.counts()["dahoas"]
    assert counts["test_prompts_in_train"] == 0


def test_shp_pairs_of_one_post_stay_together(fixtures):
    splits = SHP(path=str(fixtures / "shp.jsonl"), test_fraction=0.5).load()
    train = {p.group for p in splits.pairs["train"]}
    test = {p.group for p in splits.pairs["test"]}
    assert all(g.startswith("post:") for g in train | test)
    assert not train & test


def test_the_offline_default_has_no_test_prompt_in_train(make_cfg):
    dm = instantiate(make_cfg("dataset.max_pairs.train=null", "dataset.max_pairs.test=null").dataset,
                     _convert_="all")
    dm.load_pairs()
    for name, counts in dm.counts().items():
        if not counts["absent"]:
            assert counts["pairs"]["test"] > 0, name
            assert counts["test_prompts_in_train"] == 0, name


def test_a_cap_draws_from_every_file_with_a_fixed_data_seed(tmp_path):
    first = _write(tmp_path / "a.jsonl", _shared_prompt_rows(60, 1, "a "))
    second = _write(tmp_path / "b.jsonl", _shared_prompt_rows(60, 1, "b "))

    def load(data_seed=0):
        dm = PreferenceDataModule({"dahoas": Dahoas(path=[str(first), str(second)], test_fraction=0.2)},
                                  max_pairs={"train": 20, "test": 6}, cache_dir=None, data_seed=data_seed)
        dm.load_pairs()
        return dm

    dm = load()
    counts = dm.counts()["dahoas"]
    assert counts["pairs"]["train"] == 20 and counts["pairs"]["test"] == 6
    assert set(counts["composition"]["train"]) == {"a.jsonl", "b.jsonl"}  # not just the first file
    assert sum(counts["composition"]["train"].values()) == 20
    assert [p.id for p in load().pairs["train"]] == [p.id for p in dm.pairs["train"]]  # same sample again
    assert [p.id for p in load(data_seed=1).pairs["train"]] != [p.id for p in dm.pairs["train"]]
