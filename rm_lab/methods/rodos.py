"""RODOS (Router for DOmain-specific reward modelS): a router picks one of several domain RMs.

The router is a sequence classifier over the prompt on the same backbone; each covered domain
has its own fully fine-tuned reward model trained on that domain's pairs only. At test time
the router's prediction (not the gold domain) picks the reward model; `oracle_accuracy` in
results.json gives the accuracy with gold routing.

    python -m rm_lab method=rodos model=tiny-deberta
    python -m rm_lab experiment=paper_rodos model=deberta-v3-base
    python -m rm_lab.add_domain RUN_DIR oasst dataset.domains.oasst.path=FILE   # add a domain
"""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.methods.capabilities import Capabilities, PaperRow
from rm_lab.methods.fitting import RewardFit, RouterFit
from rm_lab.methods.routed import PREFIX, ROUTER, RoutedRewardModule
from rm_lab.models.backbone import Backbone
from rm_lab.models.heads import RewardModel, SequenceClassifier


class RODOS(RoutedRewardModule):
    method_name = "rodos"
    label = "RODOS"
    capabilities = Capabilities(
        components=("router", "reward_model/*"), routes=True, stores_components=True, adds_domains=True,
        inference_compare=True, tables=("2", "3", "6"), order=40,
        paper_rows=(PaperRow("deberta-v3-base", 1110), PaperRow("deberta-v3-small", 846),
                    PaperRow("deberta-v3-xsmall", 420)))

    def __init__(self, backbone: Backbone, domains: list[str], head_dropout: float = 0.0,
                 router_dropout: float = 0.1, **options):
        super().__init__(domains, backbone_name=backbone.name, **options)
        self.router = SequenceClassifier(backbone, len(self.domains), head_dropout=router_dropout)
        self.reward_models = nn.ModuleDict({d: RewardModel(backbone, head_dropout) for d in self.domains})

    def module_of(self, name: str) -> nn.Module:
        return self.router if name == ROUTER else self.reward_models[name[len(PREFIX):]]

    def components(self) -> dict[str, nn.Module]:
        return {ROUTER: self.router, **{PREFIX + d: m for d, m in self.reward_models.items()}}

    def router_logits(self, input_ids, attention_mask) -> torch.Tensor:
        return self.router(input_ids, attention_mask)

    def score_with(self, domain, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        return self.reward_models[domain](input_ids, attention_mask, token_type_ids)

    def drop_domains(self, names: list[str]) -> None:
        for name in names:
            if name in self.reward_models:
                del self.reward_models[name]

    def router_fit(self) -> RouterFit:
        return RouterFit(self.router, self.route_logits, lr=self.router_lr,
                         weight_decay=self.weight_decay, warmup_steps=self.warmup_steps)

    def reward_fit(self, domain: str) -> RewardFit:
        model = self.reward_models[domain]

        def score(batch):
            return model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

        return RewardFit(PREFIX + domain, model, score, lr=self.lr, weight_decay=self.weight_decay,
                         warmup_steps=self.warmup_steps, **self.loss_options())

    def component_state(self, name: str) -> dict[str, torch.Tensor]:
        return self.module_of(name).state_dict()

    def load_component_state(self, name: str, state: dict[str, torch.Tensor]) -> None:
        self.module_of(name).load_state_dict(state)

    def freeze_component(self, name: str) -> None:
        self.module_of(name).requires_grad_(False)
