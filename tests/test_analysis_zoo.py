"""The decoder LLM zoo: sizes built from config (meta device) match the published ones; the sweeps compose."""
from __future__ import annotations

import pytest

from rm_lab.core.config import CONF_DIR, compose
from rm_lab.studies.base_model.zoo import ZOO, count_from_config

# Parameter counts the model cards publish (with the LM head), in billions.
PUBLISHED = {"qwen2.5-0.5b-instruct": 0.49, "llama-3.2-1b-instruct": 1.23, "gemma-2-2b-it": 2.61,
             "qwen2.5-7b-instruct": 7.61}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_sizes_from_config_match_the_model_cards(name):
    counted = count_from_config(name)
    assert counted["with_lm_head"] / 1e9 == pytest.approx(PUBLISHED[name], rel=0.01)
    assert counted["backbone"] <= counted["with_lm_head"]


def _compose(*overrides):
    return compose(overrides, return_hydra_config=True)


def test_paper_sweep_lists_the_zoo_and_trains_on_helpsteer2_tests_on_rewardbench():
    cfg = _compose("experiment=base_model_sweep")
    assert cfg.hydra.sweeper.params.model.split(",") == list(ZOO)
    for name in ZOO:
        assert (CONF_DIR / "model" / f"{name}.yaml").exists()
    assert list(cfg.dataset.domains) == ["rewardbench", "helpsteer2"]  # rewardbench: one domain per subset
    assert cfg.dataset.batch_size * cfg.trainer.accumulate_grad_batches == 64
    assert cfg.trainer.max_epochs == 1 and cfg.method.warmup_steps == 20


def test_offline_sweep_uses_offline_backbones_only():
    cfg = _compose("experiment=base_model_sweep_offline")
    for name in cfg.hydra.sweeper.params.model.split(","):
        model = _compose(f"model={name}").model
        assert model.source.startswith("packaged:") or not model.pretrained, name
