"""One inference protocol for every method: pairs scored one at a time, batched figure alongside."""
from __future__ import annotations

import pytest
import torch

from rm_lab.data.batch import select_pairs
from rm_lab.eval.timing import InferenceClock


def _batch():
    ids = torch.tensor([[1, 2, 0, 0], [3, 4, 5, 0], [6, 0, 0, 0], [7, 8, 0, 0]])  # chosen 0,1 then rejected 0,1
    return {"input_ids": ids, "attention_mask": (ids > 0).long(),
            "prompt_input_ids": torch.tensor([[9, 9, 9], [9, 0, 0]]),
            "prompt_attention_mask": torch.tensor([[1, 1, 1], [1, 0, 0]]),
            "domain": torch.tensor([0, 1]), "ids": ["a", "b"]}


def test_select_pairs_keeps_chosen_and_rejected_in_step_and_drops_padding():
    one = select_pairs(_batch(), [1])
    assert one["ids"] == ["b"] and one["domain"].tolist() == [1]
    assert one["input_ids"].tolist() == [[3, 4, 5], [7, 8, 0]]  # pair 1's chosen, then its rejected
    assert one["prompt_input_ids"].tolist() == [[9]]
    first = select_pairs(_batch(), [0])
    assert first["input_ids"].tolist() == [[1, 2], [6, 0]]


def test_clock_reports_per_input_first_with_the_batched_figure_alongside():
    clock = InferenceClock(per_input_pairs=2)
    assert clock.summary()["seconds_per_input"] is None
    clock.add(1.0, 10)
    assert clock.summary()["protocol"] == "batched"
    assert clock.wants_single == 2
    clock.add_single(0.3, 2)
    clock.add_single(0.5, 2)
    assert clock.wants_single == 0
    summary = clock.summary()
    assert summary["protocol"] == "per_input"
    assert summary["seconds_per_input"] == summary["per_input"]["seconds_per_input"] == 0.2
    assert summary["batched"]["seconds_per_input"] == 0.1


@pytest.mark.slow
def test_a_run_times_single_pairs_and_batches(make_cfg):
    from rm_lab.runner.run import run

    results = run(make_cfg("dataset.max_pairs.train=4", "dataset.max_pairs.test=4", "train=false",
                           "inference_samples=5"))
    inference = results["inference"]
    assert inference["protocol"] == "per_input"
    assert inference["per_input"]["inputs"] == 2 * 5  # `inference_samples` of the 12 test pairs, each alone
    assert inference["per_input"]["steps"] == inference["per_input"]["samples"] == 5
    assert inference["per_input"]["seconds_per_step"] == pytest.approx(inference["per_input"]["seconds_total"] / 5)
    assert inference["batched"]["inputs"] == 2 * 12
    assert inference["seconds_per_input"] > 0
