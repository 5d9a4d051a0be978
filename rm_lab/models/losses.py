"""Pairwise losses on rewards: the Bradley-Terry loss and the winner/loser classification loss.

Per-pair forms keep the shape of their inputs, so K ensemble heads (K, B) or per-domain sums
use the same functions as a plain batch (B,).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_losses(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(r_chosen - r_rejected) per pair, computed in fp32."""
    return -F.logsigmoid(chosen.float() - rejected.float())


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """The mean Bradley-Terry loss over pairs."""
    return bradley_terry_losses(chosen, rejected).mean()


def classification_losses(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Each response labelled winner (1) or loser (0), binary cross-entropy on its reward as a
    logit, averaged over the pair's two responses."""
    chosen, rejected = chosen.float(), rejected.float()
    return 0.5 * (F.binary_cross_entropy_with_logits(chosen, torch.ones_like(chosen), reduction="none")
                  + F.binary_cross_entropy_with_logits(rejected, torch.zeros_like(rejected), reduction="none"))


PAIR_LOSSES = {"bradley_terry": bradley_terry_losses, "classification": classification_losses}
