"""The mean and spread of a run's rewards over its training responses, for reward normalisation.

OpenRLHF's `--reward.normalize_enable` (`normalize_reward`) reads `config.mean` and `config.std`
from the reward model's config.json and returns `(reward - mean) / std` (openrlhf 0.11.2,
`openrlhf/models/model.py`, `_get_reward_model`; its own reward trainer writes the two as
`torch.mean` and `torch.std(...).clamp(min=1e-8)` of its evaluation rewards). A transformers
export writes them from the run's own rewards on its training pairs (both responses of up to
`STATS_PAIRS` pairs, a seeded sample over every domain), scored in fp32 as the test set was.
"""
from __future__ import annotations

import torch

from rm_lab.data.pairs import sample_pairs

STATS_PAIRS = 1000  # training pairs (two responses each) the export's reward mean and std are taken over


def training_pairs(cfg) -> list:
    """The run's training pairs, read again from its stored dataset config (the bundled samples,
    local files or the hub, as the run read them); a target rm_lab does not build is refused
    (rm_lab/core/safe_config.py)."""
    from rm_lab.core.safe_config import instantiate

    datamodule = instantiate(cfg.dataset, "the run's stored config", key="dataset", _convert_="all")
    datamodule.load_pairs()
    return list(datamodule.pairs.get("train", []))


def reward_stats(scorer, cfg, max_pairs: int | None = STATS_PAIRS) -> dict:
    """{mean, std, responses, pairs, train_pairs} of the scorer's rewards on the run's training
    responses (max_pairs None or 0: every training pair). ValueError when the run has none."""
    pairs = training_pairs(cfg)
    if not pairs:
        raise ValueError("the run has no training pairs to take reward statistics over")
    picked = sample_pairs(pairs, max_pairs or None, seed=f"reward-stats-{cfg.get('seed', 0)}")
    with scorer.in_fp32():
        scores = scorer.score_pairs(picked)
    rewards = torch.tensor([r for pair in scores for r in pair], dtype=torch.float64)
    std = rewards.std().clamp(min=1e-8) if rewards.numel() > 1 else torch.tensor(1.0)
    return {"mean": float(rewards.mean()), "std": float(std), "responses": int(rewards.numel()),
            "pairs": len(picked), "train_pairs": len(pairs)}


def openrlhf_settings(model, scorer, cfg, max_pairs: int | None = STATS_PAIRS) -> dict:
    """Write into the exported model's config what OpenRLHF's `get_llm_for_sequence_regression`
    reads: `value_head_prefix` "score" for a decoder (its value head: a bias-free linear read at
    the last token the attention mask keeps, which is the export's `score`), and `mean`/`std` of
    the training rewards (`reward_stats`). Returns the manifest's record of both; where the
    training pairs cannot be read again, the record says why and no mean/std is written."""
    record: dict = {"value_head_prefix": None}
    if "ForSequenceClassification" in type(model).__name__ and hasattr(model, "score"):
        model.config.value_head_prefix = record["value_head_prefix"] = "score"
    try:
        stats = reward_stats(scorer, cfg, max_pairs)
    except Exception as err:  # the data is gone or unreachable: the export stands, without normalisation
        record["reward_stats"] = {"error": f"{type(err).__name__}: {err}"}
        return record
    model.config.mean, model.config.std = stats["mean"], stats["std"]
    record["reward_stats"] = stats
    return record
