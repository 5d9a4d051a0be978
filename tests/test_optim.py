"""The optimizer and scheduler of every fit come from conf/optimizer and conf/scheduler
(`_target_` + `_partial_: true`); the defaults are AdamW and a linear warm-up, as before."""
from __future__ import annotations

import functools

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from rm_lab.core.config import CONF_DIR, compose
from rm_lab.methods.fitting import RewardFit, RouterFit
from rm_lab.methods.optim import DEFAULT, OptimChoice, attach, build_optimizers, linear_warmup
from rm_lab.runner.build import build_trainer
from rm_lab.runner.run import run


class FakeTrainer:
    """What build_optimizers reads from a trainer: the attached choice and the fit's step count."""
    estimated_stepping_batches = 10


def _module(trainer=None) -> nn.Module:
    module = nn.Linear(3, 1)
    module._trainer = trainer
    return module


def _lrs(result, steps: int) -> list[float]:
    optimizer = result["optimizer"] if isinstance(result, dict) else result
    scheduler = result["lr_scheduler"]["scheduler"] if isinstance(result, dict) else None
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return lrs


def test_the_default_config_is_adamw_and_a_linear_warmup():
    cfg = compose()
    assert OmegaConf.to_container(cfg.optimizer) == {"_target_": "torch.optim.AdamW", "_partial_": True, "fused": True}
    assert OmegaConf.to_container(cfg.scheduler) == {"_target_": "rm_lab.methods.optim.linear_warmup",
                                                     "_partial_": True}
    choice = OptimChoice.from_config(cfg.optimizer, cfg.scheduler)
    assert choice.optimizer.func is DEFAULT.optimizer.func is torch.optim.AdamW
    assert choice.scheduler.func is DEFAULT.scheduler.func is linear_warmup


def test_defaults_are_the_former_adamw_with_linear_warmup():
    plain = build_optimizers(_module(), _module().parameters(), lr=0.3, weight_decay=0.01)
    assert type(plain) is torch.optim.AdamW  # no warm-up: no scheduler, as before
    assert plain.defaults["lr"] == 0.3 and plain.defaults["weight_decay"] == 0.01
    warm = build_optimizers(None, _module().parameters(), lr=0.3, warmup_steps=3)
    assert warm["lr_scheduler"]["interval"] == "step"
    assert _lrs(warm, 5) == [0.3 * min(1.0, (s + 1) / 3) for s in range(5)]
    frozen = _module().requires_grad_(False)
    with pytest.raises(RuntimeError, match="every parameter is frozen"):
        build_optimizers(None, frozen.parameters(), lr=0.1)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml")))
def test_every_optimizer_choice_builds_with_the_method_lr(name):
    node = compose([f"optimizer={name}"]).optimizer
    trainer = FakeTrainer()
    attach(trainer, OptimChoice.from_config(node, None))
    optimizer = build_optimizers(_module(trainer), _module().parameters(), lr=0.05, weight_decay=0.1)
    assert type(optimizer) is type(instantiate(node)([nn.Parameter(torch.zeros(1))], lr=1.0))
    assert optimizer.defaults["lr"] == 0.05 and optimizer.defaults["weight_decay"] == 0.1


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "scheduler").glob("*.yaml")))
def test_every_scheduler_choice_warms_up_over_method_warmup_steps(name):
    trainer = FakeTrainer()  # 10 optimizer steps in the fit
    attach(trainer, OptimChoice.from_config(None, compose([f"scheduler={name}"]).scheduler))
    lrs = _lrs(build_optimizers(_module(trainer), _module().parameters(), lr=1.0, warmup_steps=2), 10)
    assert lrs[0] < lrs[1] <= 1.0 and max(lrs) == pytest.approx(1.0)
    if name == "constant":
        assert lrs[2:] == [1.0] * 8
    else:  # transformers' schedules decay towards 0 at the fit's last step
        assert lrs[-1] < 0.2 and lrs == [lrs[0], lrs[1], *sorted(lrs[2:], reverse=True)]


def test_lr_and_warmup_stay_method_keys():
    with pytest.raises(ValueError, match=r"optimizer.lr: set it as method.lr"):
        OptimChoice.from_config(compose(["+optimizer.lr=0.1"]).optimizer, None)
    with pytest.raises(ValueError, match=r"scheduler.num_warmup_steps: set it as method.warmup_steps"):
        OptimChoice.from_config(None, compose(["+scheduler.num_warmup_steps=5"]).scheduler)
    with pytest.raises(ValueError, match="_partial_: true"):
        OptimChoice.from_config(OmegaConf.create({"_target_": "torch.optim.SGD"}), None)
    no_warmup = OptimChoice(scheduler=functools.partial(torch.optim.lr_scheduler.ExponentialLR, gamma=0.5))
    trainer = FakeTrainer()
    attach(trainer, no_warmup)
    assert _lrs(build_optimizers(_module(trainer), _module().parameters(), lr=1.0), 3) == [1.0, 0.5, 0.25]
    with pytest.raises(ValueError, match="takes no num_warmup_steps"):
        build_optimizers(_module(trainer), _module().parameters(), lr=1.0, warmup_steps=2)


def test_component_fits_take_the_trainers_choice(make_cfg, monkeypatch):
    """RODOS/ARLISS fit each part in its own Lightning fit: the router at method.router_lr, each
    domain's model at method.lr, both with the run's optimizer and scheduler."""
    cfg = make_cfg("optimizer=sgd", "scheduler=linear", "method=rodos")
    router = RouterFit(nn.Linear(3, 2), logits=None, lr=0.2, warmup_steps=1)
    reward = RewardFit("reward_model/hh_rlhf", nn.Linear(3, 1), score=None, lr=0.1, warmup_steps=1)
    for fit, lr in ((router, 0.2), (reward, 0.1)):
        trainer = build_trainer(cfg)
        fit.trainer = trainer
        with pytest.raises(ValueError, match="cannot count"):  # outside a fit, no steps to count
            fit.configure_optimizers()
        monkeypatch.setattr(type(trainer), "estimated_stepping_batches", property(lambda self: 3))
        configured = fit.configure_optimizers()
        optimizer = configured["optimizer"]
        assert type(optimizer) is torch.optim.SGD and optimizer.defaults["momentum"] == 0.9
        assert _lrs(configured, 3) == pytest.approx([0.0, lr, lr / 2])  # transformers: warm-up from 0, then to 0 at step 3
        monkeypatch.undo()


@pytest.mark.slow
def test_a_run_trains_with_the_configured_optimizer(make_cfg):
    default = run(make_cfg("seed=0", "method.lr=1e-3", out="adamw"))
    sgd = run(make_cfg("seed=0", "method.lr=1e-3", "optimizer=sgd", "scheduler=linear", "method.warmup_steps=1",
                       out="sgd"))
    assert sgd["status"] == "completed"
    assert sgd["config"]["optimizer"]["_target_"] == "torch.optim.SGD"
    assert sgd["config"]["scheduler"]["_target_"] == "transformers.get_linear_schedule_with_warmup"
    assert sgd["accuracy"]["loss"] != default["accuracy"]["loss"]
