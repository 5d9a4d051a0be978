"""Reward heads over vectors: ensemble rules, per-head seeds and bootstraps, a real fit."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from rm_lab.data.vector_pairs import VectorPairs, VectorPairsDataModule
from rm_lab.methods.embedding import EmbeddingRM
from rm_lab.models.ensemble_heads import RULES, HeadEnsemble, combine

SCORES = torch.tensor([[1.0, 4.0], [3.0, 0.0], [2.0, 2.0]])  # 3 heads x 2 inputs


def test_each_ensemble_rule_on_hand_made_scores():
    var = torch.tensor([2 / 3, 8 / 3])  # population variance of (1, 3, 2) and (4, 0, 2)
    assert torch.allclose(combine(SCORES, "mean"), torch.tensor([2.0, 2.0]))
    assert torch.allclose(combine(SCORES, "min"), torch.tensor([1.0, 0.0]))
    assert torch.allclose(combine(SCORES, "mean_minus_var", lam=0.5), torch.tensor([2.0, 2.0]) - 0.5 * var)
    assert torch.allclose(combine(SCORES, "mean_minus_std", lam=2.0), torch.tensor([2.0, 2.0]) - 2.0 * var.sqrt())
    assert torch.equal(combine(SCORES, "single", member=1), torch.tensor([3.0, 0.0]))
    # the uncertainty penalty flips the ranking: input 1 has the same mean but more disagreement
    assert combine(SCORES, "mean_minus_std")[0] > combine(SCORES, "mean_minus_std")[1]


def test_bad_rule_or_member_names_the_choices():
    with pytest.raises(ValueError, match="mean_minus_std"):
        combine(SCORES, "median")
    with pytest.raises(ValueError, match="3 heads"):
        combine(SCORES, "single", member=3)
    with pytest.raises(ValueError, match="method.rule must be one of"):
        EmbeddingRM(["a"], input_dim=4, rule="max")


def test_ensemble_member_equals_a_lone_head_with_its_seed():
    x = torch.randn(7, 5)
    ensemble = HeadEnsemble(5, (8, 4), k=3, seeds=[11, 12, 13])
    lone = HeadEnsemble(5, (8, 4), k=1, seeds=[12])
    out = ensemble(x)
    assert out.shape == (3, 7)
    assert torch.allclose(out[1], lone(x)[0])
    assert not torch.allclose(out[0], out[1])  # own seeds, own weights


def test_bootstrap_weights_are_resamples_per_head():
    rm = EmbeddingRM(["a"], input_dim=4, hidden=[4], ensemble_size=4, seed=3)
    assert rm.resample == "bootstrap"  # the default
    rm.set_member_weights(50)
    w = rm.pair_weights
    assert w.shape == (4, 50)
    assert torch.equal(w.sum(1), torch.full((4,), 50.0))
    assert (w == 0).any(1).all()  # each resample leaves some pairs out
    assert (w > 1).any(1).all()  # ... and draws some twice: with replacement
    assert len({tuple(row.tolist()) for row in w}) == 4
    single = EmbeddingRM(["a"], input_dim=4, hidden=[4], ensemble_size=1)
    single.set_member_weights(50)
    assert torch.equal(single.pair_weights, torch.ones(1, 50))


@pytest.mark.slow
@pytest.mark.parametrize("head", ["bt", "clf", "linear"])
def test_heads_learn_a_linear_preference(head):
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(6, generator=g)
    a, b = torch.randn(400, 6, generator=g), torch.randn(400, 6, generator=g)
    better = (a @ direction > b @ direction).unsqueeze(1)
    chosen, rejected = torch.where(better, a, b), torch.where(better, b, a)
    data = VectorPairs(chosen, rejected, torch.zeros(400, dtype=torch.long))
    dm = VectorPairsDataModule({"train": data, "test": data}, ["toy"], batch_size=64)
    rm = EmbeddingRM(["toy"], input_dim=6, head=head, hidden=[16], ensemble_size=2, epochs=15, lr=1e-2)
    rm.prepare(dm)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=15, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(rm, datamodule=dm)
    trainer.test(rm, datamodule=dm, verbose=False)
    assert rm.test_results["average"] > 0.9
    assert set(rm.extra_results()["ensemble"]["by_rule"]) == set(RULES)
