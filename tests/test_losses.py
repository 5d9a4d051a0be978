"""Loss options of the pairwise step: reward centering, the pair margin, training signals."""
from __future__ import annotations

import csv
import math

import pytest
import torch
from hydra.utils import instantiate

from rm_lab.data.batch import pair_batch, select_pairs
from rm_lab.data.domains.helpsteer2 import HelpSteer2Preference
from rm_lab.data.pairs import make_pair
from rm_lab.methods.base import (
    PairwiseLossOptions,
    check_loss_options,
    pair_objective,
    pairwise_step,
)
from rm_lab.models.losses import bradley_terry_losses
from rm_lab.runner.build import build_backbone, build_data, build_method
from rm_lab.runner.run import run


def softplus(x: float) -> float:
    """-log sigmoid(-x) = log(1 + e^x): the Bradley-Terry loss of a pair whose gap is -x."""
    return math.log1p(math.exp(x))


class Recorder(PairwiseLossOptions):
    """A stand-in for the LightningModule pairwise_step logs to."""

    def __init__(self, **options):
        self.logged: dict[str, float] = {}
        self.set_loss_options(**options)

    def log(self, name, value, **kwargs):
        self.logged[name] = float(value)


# chosen (1, 2), rejected (0, -1): gaps 1 and 3, sums 1 and 1
REWARDS = torch.tensor([1.0, 2.0, 0.0, -1.0])
PLAIN = (softplus(-1.0) + softplus(-3.0)) / 2


def test_defaults_leave_the_loss_unchanged():
    module = Recorder()
    loss = pairwise_step(module, REWARDS, margin=torch.tensor([2.0, 1.0]))  # a margin is ignored when off
    assert loss.item() == pytest.approx(PLAIN)
    assert loss.item() == bradley_terry_losses(REWARDS[:2], REWARDS[2:]).mean().item()
    assert module.logged["train/loss"] == pytest.approx(PLAIN)
    assert "train/center_loss" not in module.logged and "train/pair_loss" not in module.logged
    assert check_loss_options() == {"center_rewards_coefficient": 0.0, "use_margin": False}


def test_center_term_is_coefficient_times_mean_squared_sum():
    module = Recorder(center_rewards_coefficient=0.5)
    loss = pairwise_step(module, REWARDS)
    center = 0.5 * ((1.0 + 0.0) ** 2 + (2.0 - 1.0) ** 2) / 2
    assert loss.item() == pytest.approx(PLAIN + center)
    assert module.logged["train/center_loss"] == pytest.approx(center)
    assert module.logged["train/pair_loss"] == pytest.approx(PLAIN)
    assert module.logged["train/loss"] == pytest.approx(PLAIN + center)


def test_center_term_per_head_of_an_ensemble():
    rewards = torch.stack([REWARDS, 2 * REWARDS])  # two heads
    objective, logged, terms = pair_objective(*rewards.split(2, -1), center_rewards_coefficient=0.1)
    second = (softplus(-2.0) + softplus(-6.0)) / 2 + 0.1 * (2 ** 2 + 2 ** 2) / 2
    first = PLAIN + 0.1 * 1.0
    assert objective.item() == pytest.approx(first + second)
    assert logged.item() == pytest.approx((first + second) / 2)
    assert terms["center_loss"].item() == pytest.approx(0.1 * (1.0 + 4.0) / 2)


def test_margin_shifts_the_gap_and_nan_means_none():
    module = Recorder(use_margin=True)
    loss = pairwise_step(module, REWARDS, margin=torch.tensor([2.0, float("nan")]))
    expected = (softplus(-(1.0 - 2.0)) + softplus(-3.0)) / 2  # -log sigmoid(1 - 2), -log sigmoid(3 - 0)
    assert loss.item() == pytest.approx(expected)
    assert pairwise_step(Recorder(use_margin=True), REWARDS).item() == pytest.approx(PLAIN)  # no margins
    both = pairwise_step(Recorder(use_margin=True, center_rewards_coefficient=1.0), REWARDS,
                         margin=torch.tensor([3.0, 1.0]))
    assert both.item() == pytest.approx((softplus(2.0) + softplus(-2.0)) / 2 + 1.0)


def test_margin_needs_the_bradley_terry_loss():
    from rm_lab.models.losses import classification_losses

    with pytest.raises(ValueError, match="Bradley-Terry"):
        pair_objective(REWARDS[:2], REWARDS[2:], classification_losses, margin=torch.ones(2))


def test_reward_statistics_are_logged():
    module = Recorder()
    pairwise_step(module, REWARDS, prefix="train/reward_model/hh")
    assert module.logged["train/reward_model/hh/reward_mean"] == pytest.approx(0.5)
    assert module.logged["train/reward_model/hh/reward_std"] == pytest.approx(math.sqrt(1.25))
    assert module.logged["train/reward_model/hh/reward_margin"] == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [{"center_rewards_coefficient": -0.1}, {"center_rewards_coefficient": "a"},
                                 {"use_margin": "yes"}])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError, match="method."):
        check_loss_options(**bad)


def test_builder_applies_the_options_to_every_fit(make_cfg):
    cfg = make_cfg("method.center_rewards_coefficient=0.01", "method.use_margin=true")
    module = build_method(cfg.method, backbone=build_backbone(cfg), domains=["hh_rlhf", "helpsteer2"])
    assert (module.center_rewards_coefficient, module.use_margin) == (0.01, True)
    cfg = make_cfg("method=rodos", "method.center_rewards_coefficient=0.01", "method.use_margin=true")
    rodos = build_method(cfg.method, backbone=build_backbone(cfg), domains=["hh_rlhf", "helpsteer2"])
    fit = rodos.reward_fit("helpsteer2")
    assert (fit.center_rewards_coefficient, fit.use_margin) == (0.01, True)
    default = make_cfg("method=more")
    assert build_method(default.method, backbone=build_backbone(default), domains=["a", "b"]).loss_options() == {
        "center_rewards_coefficient": 0.0, "use_margin": False}


def test_embedding_heads_refuse_the_margin(make_cfg):
    cfg = make_cfg("method=embedding", "+method.use_margin=true")
    with pytest.raises(ValueError, match="use_margin"):
        build_method(cfg.method, domains=["a"], input_dim=4)


# -- margins on pairs -----------------------------------------------------------------------------
def test_helpsteer2_pairs_carry_their_strength_as_margin(fixtures):
    result = HelpSteer2Preference(path=str(fixtures / "helpsteer2_preference.jsonl")).load()
    margins = {p.prompt: p.margin for p in result.pairs["train"] + result.pairs["test"]}
    assert margins == {"What is the boiling point of water at sea level?": 3.0,
                       "Suggest a name for a grey cat.": 2.0, "Translate 'thank you' to Spanish.": 1.0,
                       "Give a synonym for 'happy'.": 1.0, "How many legs does a spider have?": 3.0,
                       "Name a prime number above 10.": 2.0}


def test_margin_is_not_part_of_the_pair():
    a = make_pair("d", "p", "good", "bad", margin=2)
    b = make_pair("d", "p", "good", "bad")
    assert a == b and a.id == b.id and (a.margin, b.margin) == (2.0, None)


def test_pair_batch_margin_tensor():
    batch = pair_batch([[1], [2]], [[3], [4]], [[5], [6]], 0, [0, 0], ["a", "b"], margins=[2.0, None])
    assert batch["margin"].dtype == torch.float32
    assert batch["margin"][0] == 2.0 and torch.isnan(batch["margin"][1])
    assert select_pairs(batch, [1])["margin"].isnan().all()
    assert "margin" not in pair_batch([[1]], [[2]], [[3]], 0, [0], ["a"], margins=[None])
    assert "margin" not in pair_batch([[1]], [[2]], [[3]], 0, [0], ["a"])


def test_datamodule_batches_carry_margins(make_cfg, fixtures):
    cfg = make_cfg("dataset=helpsteer2_pref",
                   f"dataset.domains.helpsteer2.path={fixtures / 'helpsteer2_preference.jsonl'}")
    dm, _ = build_data(cfg)
    want = sorted(p.margin for p in dm.pairs["train"])
    got = sorted(m for batch in dm.train_dataloader() for m in batch["margin"].tolist())
    assert got == want and want
    plain = instantiate(make_cfg().dataset, _convert_="all")
    plain.load_pairs()
    assert all(p.margin is None for p in plain.pairs["train"])


@pytest.mark.slow
def test_margin_run_on_helpsteer2_logs_training_signals(make_cfg, fixtures, tmp_path):
    cfg = make_cfg("method.use_margin=true", "method.center_rewards_coefficient=0.01", "dataset=helpsteer2_pref",
                   f"dataset.domains.helpsteer2.path={fixtures / 'helpsteer2_preference.jsonl'}",
                   "dataset.batch_size=2", "trainer.log_every_n_steps=1")
    results = run(cfg)
    assert results["status"] == "completed"
    assert results["config"]["method"]["use_margin"] is True
    with open(tmp_path / "run" / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = {k for row in rows for k, v in row.items() if v not in ("", None)}
    for key in ("train/grad_norm", "train/reward_mean", "train/reward_std", "train/reward_margin",
                "train/center_loss", "train/pair_loss", "train/loss"):
        assert key in logged, key
    norms = [float(row["train/grad_norm"]) for row in rows if row.get("train/grad_norm")]
    assert norms and all(n > 0 for n in norms)
