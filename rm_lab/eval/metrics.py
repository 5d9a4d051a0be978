"""Strict pairwise accuracy per domain: reward(chosen) > reward(rejected); ties counted apart.

Test-time counters expose `state()` (one tensor of sums) and `load(state)`, so a
multi-process run can sum them over processes (`rm_lab.methods.base.sync_counters`)
and every process then holds the counts of the whole test set.
"""
from __future__ import annotations

import torch

from rm_lab.models.losses import bradley_terry_losses


class PairwiseAccuracy:
    """Accumulates, per domain, pairs won, tied and lost, and the Bradley-Terry loss."""

    def __init__(self, domains: list[str]):
        self.domains = list(domains)
        self.reset()

    def reset(self) -> None:
        self.won = [0] * len(self.domains)
        self.tied = [0] * len(self.domains)
        self.lost = [0] * len(self.domains)
        self.loss_sum = [0.0] * len(self.domains)

    def state(self) -> torch.Tensor:
        return torch.tensor([self.won, self.tied, self.lost, self.loss_sum], dtype=torch.float64)

    def load(self, state: torch.Tensor) -> None:
        won, tied, lost, loss_sum = state.detach().cpu().tolist()
        self.won, self.tied, self.lost = [round(x) for x in won], [round(x) for x in tied], [round(x) for x in lost]
        self.loss_sum = list(loss_sum)

    def update(self, chosen: torch.Tensor, rejected: torch.Tensor, domain: torch.Tensor) -> None:
        chosen, rejected = chosen.detach().float().cpu(), rejected.detach().float().cpu()
        margin = chosen - rejected
        losses = bradley_terry_losses(chosen, rejected)
        for i, d in enumerate(domain.tolist()):
            m = margin[i].item()
            if m > 0:
                self.won[d] += 1
            elif m == 0:
                self.tied[d] += 1
            else:
                self.lost[d] += 1
            self.loss_sum[d] += losses[i].item()

    def compute(self) -> dict:
        """{"per_domain": {d: {accuracy, won, tied, lost, n, loss}}, "average", "overall", "loss"}.

        `average` is the unweighted mean over domains that have test pairs (the paper's
        "Average"); `overall` pools all pairs. Ties count as not won.
        """
        per_domain = {}
        for i, name in enumerate(self.domains):
            n = self.won[i] + self.tied[i] + self.lost[i]
            if n == 0:
                continue
            per_domain[name] = {
                "accuracy": self.won[i] / n, "won": self.won[i], "tied": self.tied[i],
                "lost": self.lost[i], "n": n, "loss": self.loss_sum[i] / n,
            }
        total = sum(v["n"] for v in per_domain.values())
        accs = [v["accuracy"] for v in per_domain.values()]
        return {
            "per_domain": per_domain,
            "average": sum(accs) / len(accs) if accs else None,
            "overall": sum(v["won"] for v in per_domain.values()) / total if total else None,
            "ties": sum(v["tied"] for v in per_domain.values()),
            "loss": sum(self.loss_sum) / total if total else None,
            "n": total,
        }


class Counts:
    """A tensor of sums (experts' load by domain, say) that multi-process runs add up."""

    def __init__(self, *shape: int):
        self.value = torch.zeros(*shape, dtype=torch.float64)

    def reset(self) -> None:
        self.value.zero_()

    def state(self) -> torch.Tensor:
        return self.value.clone()

    def load(self, state: torch.Tensor) -> None:
        self.value = state.detach().cpu().to(torch.float64)
