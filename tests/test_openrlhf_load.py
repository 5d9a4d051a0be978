"""Decoder exports load in OpenRLHF as they are: its `get_llm_for_sequence_regression` (openrlhf
0.11.2, copied step by step in tests/openrlhf_steps.py) finds the value head the config names and
the training rewards' mean and std that `--reward.normalize_enable` reads."""
from __future__ import annotations

import json

import pytest
import torch
from openrlhf_steps import _get_reward_model, get_llm_for_sequence_regression, get_tokenizer, tokenize
from rlhf_runs import exported, held_out_pairs, trained

import rm_lab
from rm_lab.data.render import chat_text
from rm_lab.inference.reward_stats import reward_stats


@pytest.mark.slow
def test_openrlhf_loads_a_chat_export_with_its_head_and_normalisation(tmp_path_factory):
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    run_dir, out = trained(tmp_path_factory, "chat"), exported(tmp_path_factory, "chat")
    config = json.loads((out / "config.json").read_text())
    assert config["value_head_prefix"] == "score"
    scorer = rm_lab.load_reward_model(run_dir, progress=False)
    from omegaconf import OmegaConf

    stats = reward_stats(scorer, OmegaConf.create(scorer.results["config"]))  # the run's rewards on its training pairs
    assert stats["responses"] == 2 * stats["pairs"] == 2 * 72
    assert config["mean"] == pytest.approx(stats["mean"], abs=1e-6) and config["std"] == pytest.approx(stats["std"], abs=1e-6)
    assert json.loads((out / "manifest.json").read_text())["openrlhf"]["reward_stats"]["std"] == config["std"]

    # OpenRLHF's RewardModel reads config.mean/config.std into its buffers
    hf_config = AutoConfig.from_pretrained(out)
    hf_config.normalize_reward = True
    base = AutoModel._model_mapping[type(hf_config)]
    built = _get_reward_model(base.__base__, base, "score")(hf_config)
    assert float(built.mean) == pytest.approx(config["mean"]) and float(built.std) == pytest.approx(config["std"])

    model = get_llm_for_sequence_regression(str(out), "reward", normalize_reward=True, attn_implementation="eager",
                                            torch_dtype=torch.float32).eval()
    stored = load_file(str(out / "model.safetensors"))
    assert torch.equal(model.score.weight, stored["score.weight"])  # the run's head, not a fresh one
    # transformers 5 re-creates non-persistent buffers empty in from_pretrained (without ZeRO-3), so the
    # model card tells OpenRLHF users to set them from config.json, as here
    model.mean[0], model.std[0] = model.config.mean, model.config.std

    pairs = held_out_pairs(run_dir, "hh_rlhf")
    prompts = [p.prompt for p in pairs for _ in (0, 1)]
    texts = [r for p in pairs for r in (p.chosen, p.rejected)]
    tok = get_tokenizer(str(out), "left")  # OpenRLHF's reward server pads on the left
    enc = tokenize(tok, [chat_text(tok, p, t) for p, t in zip(prompts, texts)], 1024)
    assert enc["attention_mask"][:, 0].min() == 0  # the batch was padded on the left
    with torch.no_grad():
        got = model(enc["input_ids"], enc["attention_mask"]).tolist()
        model.normalize_reward = False
        raw = model(enc["input_ids"], enc["attention_mask"]).tolist()
    scorer.mixed_precision = False
    expected = scorer.score_responses([{"prompt": p, "response": t} for p, t in zip(prompts, texts)])
    assert raw == pytest.approx(expected, abs=1e-4)
    normalised = [(r - config["mean"]) / config["std"] for r in expected]
    assert got == pytest.approx(normalised, abs=1e-4 / min(1.0, config["std"]))
    assert "model.mean[0], model.std[0] = model.config.mean, model.config.std" in (out / "README.md").read_text()


@pytest.mark.slow
def test_an_encoder_export_names_no_value_head_and_its_card_says_to_serve_it(tmp_path_factory):
    out = exported(tmp_path_factory, "bert")
    config = json.loads((out / "config.json").read_text())
    assert "value_head_prefix" not in config and {"mean", "std"} <= set(config)
    assert "--reward.remote_url http://127.0.0.1:5000/get_reward" in (out / "README.md").read_text()
