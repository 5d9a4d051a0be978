"""BaseLoRA: one reward model whose backbone is frozen and adapted with LoRA (peft).

r=12, alpha=768, dropout 0.1 on the attention projections and every `dense` layer by default
(see rm_lab/models/lora.py for the target modules per backbone family); the linear reward head
is trained in full.

    python -m rm_lab method=base_lora model=tiny-deberta
    python -m rm_lab experiment=paper_base_lora model=deberta-v3-base
    python -m rm_lab method=base_lora method.lora.r=8 method.lora.target_modules=[query,value]
"""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.data.batch import PairBatch
from rm_lab.methods.base import RewardModule
from rm_lab.methods.capabilities import Capabilities, PaperRow
from rm_lab.models.backbone import Backbone
from rm_lab.models.heads import RewardModel
from rm_lab.models.lora import (
    ParameterView,
    adapter_parameters,
    base_parameters,
    lora_config,
)

ADAPTER = "default"


class BaseLoRA(RewardModule):
    label = "BaseLoRA"
    capabilities = Capabilities(components=("backbone", "adapter", "head"), tables=("2", "3", "6"), order=20,
                                paper_rows=(PaperRow("deberta-v3-base", 187),))

    def __init__(self, backbone: Backbone, domains: list[str], lora: dict | None = None, lr: float = 2e-5,
                 weight_decay: float = 0.0, warmup_steps: int = 0, head_dropout: float = 0.0):
        super().__init__(domains, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        from peft import get_peft_model

        model = backbone.build()
        peft_model = get_peft_model(model, lora_config(model, **(lora or {})), adapter_name=ADAPTER)
        self.model = RewardModel(backbone, head_dropout, model=peft_model)

    def score(self, batch: PairBatch) -> torch.Tensor:
        return self.model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    def components(self) -> dict[str, nn.Module]:
        peft_model = self.model.encoder.model
        return {"backbone": ParameterView(base_parameters(peft_model)),
                "adapter": ParameterView(adapter_parameters(peft_model, ADAPTER)), "head": self.model.head}
