"""MoRE (Mixture of Reward Experts): backbone, layer norm, sparse MoE, layer norm, reward head.

The mixture has one feed-forward expert per domain by default and noisy top-k gating (k=2,
Shazeer et al. 2017); its load-balancing loss is added to the Bradley-Terry loss with weight
`aux_loss_weight`. Trained on all domains together, like Baseline. The experts' load is logged
while training (`train/expert_load/<e>`) and reported for the test set, overall and by gold
domain, in results.json (`expert_load`).

    python -m rm_lab method=more model=tiny-deberta
    python -m rm_lab experiment=paper_more model=deberta-v3-base
    python -m rm_lab method=more method.num_experts=8 method.k=2
"""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.data.batch import PairBatch
from rm_lab.eval.metrics import Counts
from rm_lab.methods.base import RewardModule, pairwise_step
from rm_lab.methods.capabilities import Capabilities, PaperRow
from rm_lab.models.backbone import Backbone
from rm_lab.models.heads import reward_encoder, reward_head
from rm_lab.models.moe import NoisyTopKMoE


class MoRE(RewardModule):
    label = "MoRE"
    capabilities = Capabilities(
        components=("backbone", "moe", "head"), tables=("2", "3", "6"), order=30,
        paper_rows=(PaperRow("deberta-v3-base", 207), PaperRow("deberta-v3-small", 164),
                    PaperRow("deberta-v3-xsmall", 77)))

    def __init__(self, backbone: Backbone, domains: list[str], num_experts: int | None = None, k: int = 2,
                 expert_hidden: int | None = None, expert_dropout: float = 0.1, aux_loss_weight: float = 0.01,
                 lr: float = 2e-5, weight_decay: float = 0.0, warmup_steps: int = 0):
        super().__init__(domains, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        hidden = backbone.hidden_size
        num_experts = num_experts or len(self.domains)
        expert_hidden = expert_hidden or getattr(backbone.config(), "intermediate_size", None) or 4 * hidden
        self.encoder = reward_encoder(backbone)
        self.norm_in = nn.LayerNorm(hidden)
        self.moe = NoisyTopKMoE(hidden, num_experts, expert_hidden, k=k, dropout=expert_dropout)
        self.norm_out = nn.LayerNorm(hidden)
        self.head = reward_head(backbone)
        self.aux_loss_weight = aux_loss_weight
        self.test_load = Counts(len(self.domains), num_experts)  # top-k selections by gold domain

    def score(self, batch: PairBatch) -> torch.Tensor:
        pooled = self.encoder(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        return self.head(self.norm_out(self.moe(self.norm_in(pooled))))

    def components(self) -> dict[str, nn.Module]:
        return {"backbone": self.encoder, "moe": nn.ModuleList([self.norm_in, self.moe, self.norm_out]),
                "head": self.head}

    def training_step(self, batch: PairBatch, batch_idx: int) -> torch.Tensor:
        rewards = self.score(batch)
        loss = pairwise_step(self, rewards, extra={"moe_aux_loss": (self.moe.aux_loss, self.aux_loss_weight)},
                             margin=batch.get("margin"))
        n = rewards.shape[-1] // 2
        for e, share in enumerate((self.moe.last_gates > 0).float().mean(0)):
            self.log(f"train/expert_load/{e}", share, batch_size=n)
        return loss

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self.test_load.reset()

    def test_state(self) -> dict:
        return {**super().test_state(), "expert_load": self.test_load}

    def test_step(self, batch: PairBatch, batch_idx: int) -> None:
        super().test_step(batch, batch_idx)
        picked = (self.moe.last_gates > 0).to("cpu", torch.float64)  # rows: chosen then rejected
        self.test_load.value.index_add_(0, batch["domain"].repeat(2).cpu(), picked)

    def extra_results(self) -> dict:
        load = self.test_load.value.float()
        total = load.sum(0)
        by_domain = {d: (load[i] / load[i].sum()).tolist() for i, d in enumerate(self.domains) if load[i].sum() > 0}
        return {"expert_load": {
            "k": self.moe.k, "experts": self.moe.num_experts,
            "overall": (total / total.sum()).tolist() if total.sum() > 0 else None,
            "by_domain": by_domain,
            "note": "share of top-k expert selections over test inputs (chosen and rejected texts)",
        }}

    def summary_lines(self, results: dict) -> list[str]:
        load = results.get("expert_load") or {}
        if not load.get("overall"):
            return []
        return [f"experts' load (top-{load['k']} share of test inputs): "
                + ", ".join(f"e{i} {x:.2f}" for i, x in enumerate(load["overall"]))]
