"""Metrics, pooling, tokenization cache, batching and the atomic results file."""
from __future__ import annotations

import json
import os

import pytest
import torch
from hydra.utils import instantiate

from rm_lab.core.io import write_json_atomic
from rm_lab.eval.metrics import PairwiseAccuracy
from rm_lab.models.pooling import pool


def test_accuracy_is_strict_and_ties_are_counted_apart():
    acc = PairwiseAccuracy(["a", "b", "c"])
    acc.update(torch.tensor([1.0, 0.5, 0.2, 3.0]), torch.tensor([0.0, 0.5, 0.9, 1.0]), torch.tensor([0, 0, 0, 1]))
    out = acc.compute()
    assert out["per_domain"]["a"] == pytest.approx(
        {"accuracy": 1 / 3, "won": 1, "tied": 1, "lost": 1, "n": 3, "loss": out["per_domain"]["a"]["loss"]})
    assert out["per_domain"]["b"]["accuracy"] == 1.0
    assert "c" not in out["per_domain"]  # no test pairs: left out of the average
    assert out["average"] == pytest.approx((1 / 3 + 1.0) / 2)
    assert out["overall"] == pytest.approx(2 / 4)
    assert out["ties"] == 1


def _counted_one_by_one(chosen, rejected, domain, domains):
    """The counts pair by pair, in plain Python: what the metric's tensor sums must equal."""
    from rm_lab.models.losses import bradley_terry_losses
    rows = {d: [0, 0, 0, 0.0] for d in range(len(domains))}
    for c, r, d, loss in zip(chosen.tolist(), rejected.tolist(), domain.tolist(),
                             bradley_terry_losses(chosen, rejected).tolist()):
        rows[d][0 if c - r > 0 else 1 if c - r == 0 else 2] += 1
        rows[d][3] += loss
    return {domains[d]: row for d, row in rows.items() if sum(row[:3])}


def test_accuracy_metric_sums_equal_pair_by_pair_counts_over_batches():
    generator = torch.Generator().manual_seed(0)
    domains = ["a", "b", "c", "d"]
    acc = PairwiseAccuracy(domains)
    batches = []
    for _ in range(5):
        chosen = torch.randint(0, 4, (23,), generator=generator).float()  # small integers: many ties
        rejected = torch.randint(0, 4, (23,), generator=generator).float()
        domain = torch.randint(0, 3, (23,), generator=generator)  # "d" never seen
        acc.update(chosen, rejected, domain)
        batches.append((chosen, rejected, domain))
    out = acc.compute()
    expected = _counted_one_by_one(*(torch.cat(parts) for parts in zip(*batches)), domains)
    assert set(out["per_domain"]) == set(expected) == {"a", "b", "c"}
    for name, (won, tied, lost, loss) in expected.items():
        row = out["per_domain"][name]
        assert (row["won"], row["tied"], row["lost"], row["n"]) == (won, tied, lost, won + tied + lost)
        assert row["loss"] == pytest.approx(loss / row["n"], rel=1e-12)
    assert out["n"] == 115 and out["ties"] == sum(v[1] for v in expected.values()) > 0
    acc.reset()  # a new pass starts from zero
    acc.update(torch.ones(1), torch.ones(1), torch.tensor([3]))
    assert acc.compute()["per_domain"] == {"d": pytest.approx({"accuracy": 0.0, "won": 0, "tied": 1, "lost": 0,
                                                               "n": 1, "loss": 0.6931471805599453})}


def test_pooling_first_last_mean():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float).view(2, 4, 1)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    assert pool(hidden, mask, "first").flatten().tolist() == [0.0, 4.0]
    assert pool(hidden, mask, "last").flatten().tolist() == [2.0, 7.0]
    assert pool(hidden, mask, "mean").flatten().tolist() == [1.0, 5.5]
    with pytest.raises(ValueError, match="first, last, mean"):
        pool(hidden, mask, "max")


def test_atomic_write_replaces_whole_file_and_keeps_old_on_failure(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"status": "completed", "n": 1})

    class Boom:
        def __str__(self):
            raise RuntimeError("cannot serialise")

    with pytest.raises(RuntimeError):
        write_json_atomic(target, {"bad": Boom()})
    assert json.loads(target.read_text()) == {"status": "completed", "n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left behind


def _datamodule(make_cfg):
    cfg = make_cfg()
    dm = instantiate(cfg.dataset, _convert_="all")
    backbone = instantiate(cfg.model, _convert_="all")
    dm.load_pairs()
    dm.attach_tokenizer(backbone.tokenizer(), backbone.max_length)
    return cfg, dm, backbone


@pytest.mark.slow
def test_tokenization_is_cached_on_disk_and_reused(make_cfg, tmp_path):
    cfg, dm, _ = _datamodule(make_cfg)
    dm.setup()
    files = sorted(p.name for p in (tmp_path / "cache").glob("tokens-*.arrow"))
    assert len(files) == 3  # train, validation, test
    stamps = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "cache").glob("tokens-*.arrow")}
    _, again, _ = _datamodule(make_cfg)
    again.setup()
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps  # read back, not rewritten
    assert again.tokenized["train"]["chosen_input_ids"] == dm.tokenized["train"]["chosen_input_ids"]
    assert all(f.endswith(".arrow") for f in files)


@pytest.mark.slow
def test_batch_holds_chosen_then_rejected_padded_together(make_cfg):
    cfg, dm, backbone = _datamodule(make_cfg)
    dm.setup()
    batch = next(iter(dm.test_dataloader()))
    n = len(batch["ids"])
    assert batch["input_ids"].shape[0] == 2 * n
    assert batch["attention_mask"].shape == batch["input_ids"].shape
    assert batch["input_ids"].shape[1] <= backbone.max_length
    assert batch["domain"].shape == (n,)
    rows = dm.tokenized["test"][:n]
    first = rows["chosen_input_ids"][0]
    assert batch["input_ids"][0, : len(first)].tolist() == first
    assert batch["input_ids"][n, : len(rows["rejected_input_ids"][0])].tolist() == rows["rejected_input_ids"][0]
    # the response survives truncation: the prompt is cut from the left
    tok = backbone.tokenizer()
    assert tok.truncation_side == "left"


def test_every_model_config_builds_offline_with_the_right_pooling(make_cfg):
    cfg = make_cfg("model=gpt2", "model.pretrained=false")
    backbone = instantiate(cfg.model, _convert_="all")
    assert backbone.pooling == "last" and backbone.hidden_size == 768
    cfg = make_cfg("model=deberta-v3-xsmall", "model.pretrained=false")
    backbone = instantiate(cfg.model, _convert_="all")
    assert backbone.pooling == "first" and backbone.config().num_hidden_layers == 12
    with pytest.raises(Exception, match=r"model.pooling must be one of \['first', 'last', 'mean'\]"):
        instantiate(make_cfg("model.pooling=max").model, _convert_="all")
