"""Pairwise losses on rewards: the Bradley-Terry loss and the winner/loser classification loss,
the margin form of Bradley-Terry and the reward-centering penalty.

Per-pair forms keep the shape of their inputs, so K ensemble heads (K, B) or per-domain sums
use the same functions as a plain batch (B,).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_losses(chosen: torch.Tensor, rejected: torch.Tensor,
                         margin: torch.Tensor | None = None) -> torch.Tensor:
    """-log sigmoid(r_chosen - r_rejected - margin) per pair, computed in fp32 (TRL's
    RewardTrainer with a `margin` column). `margin` (B,) is the pair's required reward gap; a
    NaN margin (a pair that carries none) counts as 0, and no margin is the plain loss."""
    diff = chosen.float() - rejected.float()
    if margin is not None:
        diff = diff - torch.nan_to_num(margin.to(diff), nan=0.0)
    return -F.logsigmoid(diff)


def classification_losses(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Each response labelled winner (1) or loser (0), binary cross-entropy on its reward as a
    logit, averaged over the pair's two responses."""
    chosen, rejected = chosen.float(), rejected.float()
    return 0.5 * (F.binary_cross_entropy_with_logits(chosen, torch.ones_like(chosen), reduction="none")
                  + F.binary_cross_entropy_with_logits(rejected, torch.zeros_like(rejected), reduction="none"))


def center_rewards_penalty(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """mean((r_chosen + r_rejected)^2) over the pairs (the last dimension; one value per head),
    in fp32: TRL's `center_rewards_coefficient` term (Eisenstein et al. 2023,
    arXiv 2312.09244), which pulls each pair's rewards towards a zero mean."""
    return (chosen.float() + rejected.float()).pow(2).mean(-1)
