"""RewardBench and HelpSteer2-Preference: converters on hub-schema fixtures, section scoring."""
from __future__ import annotations

import json

import pytest
import torch
from hydra.utils import instantiate

from rm_lab.data.domains.helpsteer2 import HelpSteer2Preference
from rm_lab.data.domains.rewardbench import SECTIONS, SUBSETS, RewardBench
from rm_lab.eval.metrics import PairwiseAccuracy
from rm_lab.eval.rewardbench import EXAMPLE_COUNTS, score, score_results
from rm_lab.runner.run import run


def test_weights_cover_exactly_the_section_subsets():
    assert set(EXAMPLE_COUNTS) == set(SUBSETS)
    assert len(SUBSETS) == len(set(SUBSETS)) == 23
    code = sum(EXAMPLE_COUNTS[s] for s in SECTIONS["Reasoning"] if s.startswith("hep-"))
    assert EXAMPLE_COUNTS["math-prm"] == code  # math weighs as much as all code subsets


def test_unknown_subset_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="valid: alpacaeval-easy"):
        RewardBench(name="alpaca", path="x.jsonl")


def _rewardbench_datamodule(make_cfg, fixtures):
    cfg = make_cfg("dataset=rewardbench", f"+rewardbench_path={fixtures / 'rewardbench_filtered.jsonl'}")
    dm = instantiate(cfg.dataset, _convert_="all")
    dm.load_pairs()
    return dm


def test_rewardbench_fixture_pairs_and_drops(make_cfg, fixtures):
    dm = _rewardbench_datamodule(make_cfg, fixtures)
    assert dm.domain_names == list(SUBSETS)
    counts = dm.counts()
    assert counts["alpacaeval-easy"]["pairs"] == {"train": 0, "validation": 0, "test": 2}
    assert counts["alpacaeval-easy"]["dropped"]["all"] == {"chosen_equals_rejected": 1, "invalid_json": 1,
                                                            "missing_field": 1}
    assert counts["mt-bench-hard"]["pairs"]["test"] == 1
    assert counts["hep-go"]["pairs"]["test"] == 0  # a subset without rows is simply empty
    assert dm.pairs["train"] == []
    assert sum(len(dm.splits[d].pairs["test"]) for d in SUBSETS) == 15  # the prior-set row belongs to no subset
    assert all(p.domain in SUBSETS for p in dm.pairs["test"])


def test_section_scores_match_a_hand_computation(make_cfg, fixtures):
    """Score each fixture pair with "the longer reply wins"; the fixture notes win (W), loss (L)
    and tie (T) per row, so the expected section scores are computed by hand below."""
    dm = _rewardbench_datamodule(make_cfg, fixtures)
    metric = PairwiseAccuracy(dm.domain_names)
    pairs = dm.pairs["test"]
    metric.update(torch.tensor([float(len(p.chosen)) for p in pairs]),
                  torch.tensor([float(len(p.rejected)) for p in pairs]),
                  torch.tensor([dm.domain_names.index(p.domain) for p in pairs]))
    result = score_results(metric.compute())
    chat = (100 * 1.0 + 40 * 0.5) / (100 + 40)              # alpacaeval-easy W W, mt-bench-med W L
    chat_hard = (100 * 0.5 + 37 * 0.0) / (100 + 37)         # llmbar-natural W L, mt-bench-hard T (a tie loses)
    safety = (136 * 1.0 + 250 * 0.0) / (136 + 250)          # donotanswer W W, xstest-should-respond L L
    reasoning = (984 * 0.5 + 164 * 1.0) / (984 + 164)       # math-prm W L, hep-python W W
    assert result["sections"] == pytest.approx({"Chat": chat, "Chat Hard": chat_hard, "Safety": safety,
                                                "Reasoning": reasoning})
    assert result["score"] == pytest.approx((chat + chat_hard + safety + reasoning) / 4)
    assert result["ties"] == 1
    assert result["pairs"]["math-prm"] == 2
    assert "hep-go" in result["missing_subsets"] and "math-prm" not in result["missing_subsets"]
    assert not result["complete"]  # every section has a subset, but 15 subsets are absent


def test_complete_only_when_every_subset_is_scored():
    from rm_lab.data.domains.rewardbench import SUBSETS

    every = {s: 0.5 for s in SUBSETS}
    assert score(every)["complete"] and score(every)["missing_subsets"] == []
    one_short = dict(every)
    del one_short["hep-rust"]
    assert not score(one_short)["complete"] and score(one_short)["missing_subsets"] == ["hep-rust"]


def test_missing_section_is_none_and_left_out_of_the_mean():
    result = score({"alpacaeval-easy": 0.8, "donotanswer": 0.4})
    assert result["sections"]["Chat Hard"] is None and result["sections"]["Reasoning"] is None
    assert result["score"] == pytest.approx(0.6)
    assert not result["complete"]
    assert score_results({"per_domain": {"hh_rlhf": {"accuracy": 0.7, "n": 3}}}) is None


def test_helpsteer2_routes_by_split_column_and_orients_by_strength(fixtures):
    domain = HelpSteer2Preference(path=str(fixtures / "helpsteer2_preference.jsonl"))
    result = domain.load()
    train, test = result.pairs["train"], result.pairs["test"]
    assert len(train) == 4 and len(test) == 2
    by_prompt = {p.prompt: p for p in train + test}
    assert by_prompt["What is the boiling point of water at sea level?"].chosen.startswith("100 degrees")  # -3
    assert by_prompt["Suggest a name for a grey cat."].chosen == "How about Smokey or Ash?"               # +2
    assert by_prompt["Give a synonym for 'happy'."].chosen == "Joyful."                                   # "1"
    assert {p.prompt for p in test} == {"How many legs does a spider have?", "Name a prime number above 10."}
    assert by_prompt["How many legs does a spider have?"].chosen == "Eight."
    assert result.dropped["all"] == {"bad_label": 1, "missing_field": 1, "no_preference": 1}


def test_helpsteer2_min_strength_drops_weak_preferences(fixtures):
    domain = HelpSteer2Preference(path=str(fixtures / "helpsteer2_preference.jsonl"), min_strength=2)
    result = domain.load()
    assert result.dropped["all"]["weak_preference"] == 2
    assert len(result.pairs["train"]) + len(result.pairs["test"]) == 4
    with pytest.raises(ValueError, match="min_strength"):
        HelpSteer2Preference(path="x", min_strength=0)


@pytest.mark.slow
def test_train_on_helpsteer2_and_score_rewardbench_end_to_end(make_cfg, fixtures, tmp_path):
    cfg = make_cfg("dataset=helpsteer2_rewardbench",
                   f"+rewardbench_path={fixtures / 'rewardbench_filtered.jsonl'}",
                   f"dataset.domains.helpsteer2.path={fixtures / 'helpsteer2_preference.jsonl'}")
    results = run(cfg)
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["status"] == "completed"
    pairs = on_disk["data"]["helpsteer2"]["pairs"]
    assert pairs["test"] == 2 and pairs["train"] + pairs["validation"] == 4  # train rows give validation
    rb = on_disk["rewardbench"]
    per_domain = on_disk["accuracy"]["per_domain"]
    assert rb["subsets"]["math-prm"] == per_domain["math-prm"]["accuracy"]
    assert rb["sections"] == pytest.approx(score(rb["subsets"])["sections"])
    assert "helpsteer2" in per_domain and "helpsteer2" not in rb["subsets"]
    assert results["rewardbench"]["score"] == pytest.approx(rb["score"])


def test_unreachable_hub_names_the_local_rewardbench_file(monkeypatch):
    import rm_lab.core.hub as hub

    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    domain = RewardBench(name="math-prm", hub={"id": "allenai/reward-bench", "splits": {"test": "filtered"}})
    with pytest.raises(hub.HubUnavailable, match=r"\+rewardbench_path="):
        domain.load()
