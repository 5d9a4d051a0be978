"""Attribute regression: HelpSteer2's rated responses -> pairs with ratings -> a 5-output
regression -> weights searched on validation pairs (method=attribute_regression)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rm_lab.data.domains.helpsteer2 import ATTRIBUTES, HelpSteer2Attributes
from rm_lab.methods.attribute_search import search_weights, weight_grid
from rm_lab.runner.build import build_data, build_method

FIXTURE = Path(__file__).parent / "fixtures" / "helpsteer2_attributes.jsonl"
LOCAL = f"dataset.domains.helpsteer2_attributes.path={FIXTURE}"  # the fixture as the domain's file
PLANTED = {"correctness": 0.5, "coherence": 0.2, "verbosity": -0.3}  # sum of |w| = 1, on the 0.1 grid


def _diffs(pairs) -> torch.Tensor:
    return torch.tensor([[c - r for c, r in zip(*p.attributes)] for p in pairs])


def test_rated_rows_become_pairs_of_one_prompt_the_more_helpful_chosen():
    pairs, dropped = HelpSteer2Attributes(path=str(FIXTURE)).read_pairs()
    assert pairs and all(len(p.attributes) == 2 and len(p.attributes[0]) == len(ATTRIBUTES) for p in pairs)
    help_ = ATTRIBUTES.index("helpfulness")
    for p in pairs:
        chosen, rejected = p.attributes
        assert chosen[help_] > rejected[help_]
        assert p.margin == chosen[help_] - rejected[help_]
        assert p.chosen.endswith(".") and "(question" in p.prompt
    # the malformed rows, the single response and the equally helpful pairs are counted
    assert dropped.pop("missing_field") == 1 and dropped.pop("bad_label") == 1
    assert dropped.pop("single_response") == 1
    ties = dropped.pop("tied_preference")
    assert dropped == {} and len(pairs) + ties == 120


def test_bad_domain_options_say_what_to_write():
    with pytest.raises(ValueError, match="prefer_by weighs attributes among"):
        HelpSteer2Attributes(path=str(FIXTURE), prefer_by={"kindness": 1.0})
    with pytest.raises(ValueError, match="distinct names among"):
        HelpSteer2Attributes(path=str(FIXTURE), attributes=["helpfulness", "helpfulness"])


def test_weight_grid_covers_the_signed_simplex():
    signed, simplex = weight_grid(5, 0.1), weight_grid(5, 0.1, nonnegative=True)
    assert (len(signed), len(simplex)) == (14002, 1001)
    assert torch.allclose(signed.abs().sum(1), torch.ones(len(signed), dtype=signed.dtype))
    assert (simplex >= 0).all() and len(torch.unique(signed, dim=0)) == len(signed)
    with pytest.raises(ValueError, match="divides 1"):
        weight_grid(5, 0.3)


def test_search_recovers_the_weights_that_decided_the_fixtures_preferences():
    pairs, _ = HelpSteer2Attributes(path=str(FIXTURE), prefer_by=PLANTED).read_pairs()
    found = search_weights(_diffs(pairs), torch.zeros(len(pairs), dtype=torch.long))
    planted = torch.tensor([PLANTED.get(a, 0.0) for a in ATTRIBUTES])
    assert found.accuracy == 1.0 and found.tied_best == 1
    assert torch.allclose(found.weights, planted, atol=1e-6)
    # without negative weights the verbosity penalty cannot be expressed: no weights rank every pair
    assert search_weights(_diffs(pairs), torch.zeros(len(pairs), dtype=torch.long), nonnegative=True).accuracy < 0.95
    # helpfulness alone does not explain preferences that the planted weights decided
    assert search_weights(_diffs(pairs)[:, :1], torch.zeros(len(pairs), dtype=torch.long), step=1.0).accuracy < 0.8


def test_search_averages_domains_and_breaks_ties_by_the_pairwise_loss():
    # every non-negative weighting ranks these pairs; the loss prefers the larger margins
    diffs = torch.tensor([[2.0, 1.0]] * 5)
    found = search_weights(diffs, torch.zeros(5, dtype=torch.long), step=0.25)
    assert found.accuracy == 1.0 and found.tied_best > 1 and found.weights.tolist() == [1.0, 0.0]
    # a small domain counts as much as a large one: domain 1's two pairs need attribute 1
    diffs = torch.tensor([[1.0, -0.1]] * 6 + [[-1.0, 1.0]] * 2)
    domains = torch.tensor([0] * 6 + [1] * 2)
    found = search_weights(diffs, domains, step=0.25)
    assert found.accuracy == 1.0 and found.weights[1] > 0
    with pytest.raises(ValueError, match="validation pairs"):
        search_weights(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long))


@pytest.fixture
def built(make_cfg):
    cfg = make_cfg("method=attribute_regression", "dataset=helpsteer2_attributes", LOCAL,
                   "model.max_length=48", "dataset.domains.helpsteer2_attributes.validation_fraction=0.3",
                   "method.lr=1e-3")
    data, backbone = build_data(cfg)
    torch.manual_seed(0)
    return data, build_method(cfg.method, data=data, backbone=backbone, domains=data.domain_names)


def test_batches_carry_each_texts_ratings_in_step_with_the_texts(built):
    data, _ = built
    pairs = {p.id: p for p in data.pairs["train"]}
    batch = next(iter(data.train_dataloader()))
    n = len(batch["ids"])
    assert batch["attributes"].shape == (2 * n, len(ATTRIBUTES))
    for i, pid in enumerate(batch["ids"]):
        chosen, rejected = pairs[pid].attributes
        assert batch["attributes"][i].tolist() == list(chosen)
        assert batch["attributes"][n + i].tolist() == list(rejected)


@pytest.mark.slow
def test_regression_learns_the_ratings_and_validation_searches_the_weights(built):
    data, module = built
    batch = next(iter(data.train_dataloader()))
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)

    def mse() -> float:
        with torch.no_grad():
            return float(((module.predict(batch) - batch["attributes"]) ** 2).mean())

    before = mse()
    for _ in range(25):
        optimizer.zero_grad()
        loss = module.training_step(batch, 0)
        loss.backward()
        optimizer.step()
    assert loss.item() == pytest.approx(mse(), rel=0.2) and mse() < 0.75 * before
    module.eval()
    module._predictions = []
    with torch.no_grad():
        for val in data.val_dataloader():
            module.validation_step(val, 0)
    search = module.search_on_validation()
    assert torch.equal(module.attribute_weights, search.weights)
    assert module.attribute_weights.abs().sum() == pytest.approx(1.0)
    assert set(module.extra_results()["attribute_weights"]) == set(ATTRIBUTES)
    assert module.state_dict()["attribute_weights"].tolist() == search.weights.tolist()  # checkpoints hold them
    without = {k: v for k, v in batch.items() if k != "attributes"}
    with pytest.raises(ValueError, match="dataset=helpsteer2_attributes"):
        module.training_step(without, 0)


@pytest.mark.slow
def test_a_run_records_the_searched_weights_in_results_json(tmp_path):
    env = {**os.environ, "RM_LAB_CACHE": str(tmp_path / "cache"), "WANDB_SILENT": "true"}
    proc = subprocess.run([sys.executable, "-m", "rm_lab", "method=attribute_regression",
                           "dataset=helpsteer2_attributes", LOCAL, "model=tiny-deberta",
                           "model.max_length=48", "trainer.max_epochs=1", "dataset.max_pairs.train=24",
                           "dataset.batch_size=8", "logger=none", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    weights = results["attribute_weights"]
    assert list(weights) == list(ATTRIBUTES) and sum(abs(w) for w in weights.values()) == pytest.approx(1.0)
    search = results["attribute_search"]
    assert search["searched"] and search["candidates"] == 14002
    assert search["validation_accuracy"] == results["validation"]["best_accuracy"]
    assert list(results["accuracy"]["per_domain"]) == ["helpsteer2_attributes"]
    assert "attribute weights: helpfulness" in proc.stdout


def test_training_without_validation_pairs_fails_before_any_work(make_cfg):
    cfg = make_cfg("method=attribute_regression", "dataset=helpsteer2_attributes", LOCAL,
                   "dataset.domains.helpsteer2_attributes.validation_fraction=0.0")
    data, backbone = build_data(cfg)
    with pytest.raises(ValueError, match="validation_fraction"):
        build_method(cfg.method, data=data, backbone=backbone, domains=data.domain_names)
