"""Strict pairwise accuracy per domain: reward(chosen) > reward(rejected); ties counted apart.

`PairwiseAccuracy` is a torchmetrics `Metric`: its states (won, tied, lost and the loss summed,
per domain) are sums, so a multi-process run gathers and adds them with torchmetrics' own
`sync()` (`rm_lab.methods.base.sync_counters`) and every process then holds the counts of the
whole test set. Other test-time counters expose `state()` (one tensor of sums) and
`load(state)`, which `sync_counters` sums over processes the same way.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric

from rm_lab.models.losses import bradley_terry_losses


class PairwiseAccuracy(Metric):
    """Accumulates, per domain, pairs won, tied and lost, and the Bradley-Terry loss."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, domains: list[str]):
        super().__init__(sync_on_compute=False)  # synced once per pass by sync_counters, then computed
        self.domains = list(domains)
        size = len(self.domains)
        for name in ("won", "tied", "lost"):
            self.add_state(name, default=torch.zeros(size, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("loss_sum", default=torch.zeros(size, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, chosen: torch.Tensor, rejected: torch.Tensor, domain: torch.Tensor) -> None:
        device = self.won.device
        chosen, rejected = chosen.detach().float().to(device), rejected.detach().float().to(device)
        domain = domain.detach().to(device=device, dtype=torch.long)
        margin = chosen - rejected
        size = len(self.domains)
        self.won += torch.bincount(domain[margin > 0], minlength=size)
        self.tied += torch.bincount(domain[margin == 0], minlength=size)
        self.lost += torch.bincount(domain[~(margin >= 0)], minlength=size)  # NaN margins lose, as before
        self.loss_sum.index_add_(0, domain, bradley_terry_losses(chosen, rejected).double())

    def compute(self) -> dict:
        """{"per_domain": {d: {accuracy, won, tied, lost, n, loss}}, "average", "overall", "loss"}.

        `average` is the unweighted mean over domains that have test pairs (the paper's
        "Average"); `overall` pools all pairs. Ties count as not won.
        """
        won, tied, lost = self.won.tolist(), self.tied.tolist(), self.lost.tolist()
        loss_sum = self.loss_sum.tolist()
        per_domain = {}
        for i, name in enumerate(self.domains):
            n = won[i] + tied[i] + lost[i]
            if n == 0:
                continue
            per_domain[name] = {
                "accuracy": won[i] / n, "won": won[i], "tied": tied[i],
                "lost": lost[i], "n": n, "loss": loss_sum[i] / n,
            }
        total = sum(v["n"] for v in per_domain.values())
        accs = [v["accuracy"] for v in per_domain.values()]
        return {
            "per_domain": per_domain,
            "average": sum(accs) / len(accs) if accs else None,
            "overall": sum(v["won"] for v in per_domain.values()) / total if total else None,
            "ties": sum(v["tied"] for v in per_domain.values()),
            "loss": sum(loss_sum) / total if total else None,
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
