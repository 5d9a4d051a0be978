"""RewardBench 2: rows in its hub schema -> pairs -> rewards -> rows scored by its own rules."""
from __future__ import annotations

import math

import pytest
from hydra.utils import instantiate

from rm_lab.data.domains.rewardbench2 import DOMAIN_OF, SUBSETS, RewardBench2
from rm_lab.eval.rewardbench2 import row_result, rows_from_pairs, score, score_pairs, ties_score


def test_best_of_4_rows_score_one_a_tie_shares_its_credit():
    assert row_result([2.0, 1.0, 0.5, 1.5]) == 1.0
    assert row_result([1.0, 2.0, 0.5, 0.0]) == 0.0
    assert row_result([2.0, 2.0, 0.5, 2.0]) == pytest.approx(1 / 3)  # RewardBench 2's tie penalty
    assert row_result([1.0, 2.0, 2.0, 0.0]) == 0.0
    result = score([{"id": "0", "subset": "Math", "scores": [2.0, 2.0, 0.5, 2.0], "num_correct": 1},
                    {"id": "1", "subset": "Math", "scores": [3.0, 1.0, 0.5, 2.0], "num_correct": 1}])
    assert result["subsets"] == {"Math": pytest.approx((1 / 3 + 1) / 2)}
    assert result["strict"] == {"Math": 0.5} and result["tied"] == {"Math": 1}
    assert result["complete"] is False and "Ties" in result["missing_subsets"]


def _ties(ref0, tied0, ref1, tied1):
    return [{"id": "ref:0", "scores": ref0, "num_correct": 1}, {"id": "tied:0", "scores": tied0, "num_correct": 3},
            {"id": "ref:1", "scores": ref1, "num_correct": 1}, {"id": "tied:1", "scores": tied1, "num_correct": 2}]


def test_ties_weighs_accuracy_and_margins_as_rewardbench2_does():
    # prompt 0: every correct answer above every wrong one, the correct answers close together
    # prompt 1: accurate too, but the correct answers spread wider than their lead over the wrong ones
    rows = _ties([5.0, 1.0, 2.0], [5.0, 4.5, 4.8, 1.0, 2.0], [3.0, 2.5], [3.0, 1.0, 0.0])
    gap0, spread0 = min(5.0 - 2.0, 4.5 - 2.0), 0.5
    gap1_ref, gap1_tied, spread1 = 0.5, 1.0, 2.0
    expected = (0.30 * 1.0 + 0.30 * 1.0                           # tied and ref accuracy
                + 0.20 * (1 + 0) / 2                               # tied gap above the spread: prompt 0 only
                + 0.20 * (1 + 0) / 2                               # min(ref, tied) gap above the spread
                + 0.01 * (math.tanh(gap0 / spread0 - 1) + math.tanh(min(gap1_ref, gap1_tied) / spread1 - 1)) / 2)
    assert ties_score(rows) == pytest.approx(expected)
    wrong = _ties([1.0, 2.0, 0.0], [5.0, 4.5, 0.5, 1.0, 2.0], [3.0, 2.5], [3.0, 1.0, 0.0])
    assert ties_score(wrong) < ties_score(rows)  # prompt 0's ref and tied rows now inaccurate


def _datamodule(make_cfg, fixtures):
    cfg = make_cfg("dataset=rewardbench2", f"+rewardbench2_path={fixtures / 'rewardbench2_test.jsonl'}",
                   "dataset.max_pairs.test=null")  # RewardBench 2 scores whole rows: every pair of each
    dm = instantiate(cfg.dataset, _convert_="all")
    dm.load_pairs()
    return dm


def test_fixture_in_the_hub_schema_scored_end_to_end(make_cfg, fixtures):
    """The longer answer wins: each row's outcome is planted in the fixture (see its README)."""
    dm = _datamodule(make_cfg, fixtures)
    assert dm.domain_names == [DOMAIN_OF[s] for s in SUBSETS]
    counts = dm.counts()
    assert counts["rb2_factuality"]["pairs"] == {"train": 0, "validation": 0, "test": 6}  # 2 rows x 3 answers
    assert counts["rb2_ties"]["pairs"]["test"] == (1 + 2 - 1) * 2 + (3 + 2 - 1) + (4 + 2 - 1)
    dropped = {d: c["dropped"]["all"] for d, c in counts.items() if c["dropped"]["all"]}
    assert dropped["rb2_math"] == {"non_text_value": 1, "missing_field": 1}
    assert dropped["rb2_ties"] == {"missing_field": 1}  # a row without a subset: dropped by every subset
    assert dropped["rb2_focus"]["num_correct_mismatch"] == 1

    rewards = {p.id: (float(len(p.chosen)), float(len(p.rejected))) for p in dm.pairs["test"]}
    rows, incomplete = rows_from_pairs(rewards)
    assert incomplete == 0 and len(rows) == 10
    tied1 = next(r for r in rows if r["id"] == "tied:1")
    assert tied1["scores"] == [1.0, 4.0, 9.0, 10.0, 14.0, 5.0] and tied1["num_correct"] == 4
    result = score_pairs(rewards)
    # prompt 0: gaps 17 (ref and tied), spread 1; prompt 1: gaps -13, spread 9
    ties = 0.3 * 0.5 + 0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5 + 0.01 * (math.tanh(16) + math.tanh(-13 / 9 - 1)) / 2
    assert result["subsets"] == pytest.approx({"Factuality": 0.5, "Precise IF": 0.5, "Math": 1.0, "Safety": 1.0,
                                               "Focus": 1.0, "Ties": ties})
    assert result["strict"]["Precise IF"] == 0.0 and result["tied"]["Precise IF"] == 1
    assert result["score"] == pytest.approx((0.5 + 0.5 + 1 + 1 + 1 + ties) / 6)
    assert result["complete"] is True

    one_lost = dict(rewards)
    one_lost.pop(next(k for k in rewards if k.startswith("rb2_math")))
    assert score_pairs(one_lost)["incomplete_rows"] == 1  # a row missing a pair is left out, and counted


def test_unknown_subset_and_unreachable_hub_say_what_to_do(monkeypatch):
    with pytest.raises(ValueError, match="valid: Factuality"):
        RewardBench2(name="rb2_code", path="x.jsonl")
    from rm_lab.core import hub
    from rm_lab.data.domains import base

    def unreachable(*args, **kwargs):
        raise hub.HubUnavailable("allenai/reward-bench-2 cannot be reached.")

    monkeypatch.setattr(base, "read_hub", unreachable)
    part = RewardBench2(hub={"id": "allenai/reward-bench-2", "splits": {"test": "test"}}).expand()[0]
    with pytest.raises(hub.HubUnavailable, match=r"\+rewardbench2_path="):
        part.load()


@pytest.mark.slow
def test_an_untrained_run_scores_rewardbench2_rows_into_results(make_cfg, fixtures, tmp_path):
    """Through the runner (no training, a tiny model): every row rebuilt from its pairs, six subsets."""
    import json

    from rm_lab.runner.run import run

    cfg = make_cfg("dataset=rewardbench2", f"+rewardbench2_path={fixtures / 'rewardbench2_test.jsonl'}",
                   "dataset.max_pairs.test=null", "train=false")
    run(cfg)
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["status"] == "completed", on_disk.get("error")
    rb2 = on_disk["rewardbench2"]
    assert rb2["rows"] == {"Factuality": 2, "Precise IF": 1, "Math": 1, "Safety": 1, "Focus": 1, "Ties": 4}
    assert rb2["complete"] is True and rb2["incomplete_rows"] == 0
    assert rb2["score"] == pytest.approx(sum(rb2["subsets"].values()) / 6)
    assert all(rb2["strict"][s] <= rb2["subsets"][s] for s in rb2["subsets"] if s != "Ties")
    assert set(on_disk["accuracy"]["per_domain"]) == set(DOMAIN_OF.values())
