"""A method that lives only in the tests: a bag-of-tokens reward model.

It shows that a new method is one Python module plus one YAML (tests/conf/method/toy.yaml,
found through `hydra.searchpath`), with no edit to rm_lab: the runner builds and trains it,
the run summary prints its own line, and the report puts it in Table 2 under its own label
(its `capabilities` say so; the report also shows any method present that declares nothing).
"""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.methods.base import RewardModule
from rm_lab.methods.capabilities import Capabilities


class BagOfTokensRM(RewardModule):
    label = "Bag of tokens"
    capabilities = Capabilities(components=("bag", "head"), tables=("2",))

    def __init__(self, backbone, domains: list[str], dim: int = 8, lr: float = 1e-2):
        super().__init__(domains, lr=lr)
        self.bag = nn.Embedding(len(backbone.tokenizer()), dim)
        self.head = nn.Linear(dim, 1)

    def score(self, batch: dict) -> torch.Tensor:
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (self.bag.weight[batch["input_ids"]] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)

    def components(self) -> dict[str, nn.Module]:
        return {"bag": self.bag, "head": self.head}

    def extra_results(self) -> dict:
        return {"bag_of_tokens": {"vocabulary": self.bag.num_embeddings, "dim": self.bag.embedding_dim}}

    def summary_lines(self, results: dict) -> list[str]:
        bag = results["bag_of_tokens"]
        return [f"bag of tokens: {bag['vocabulary']} ids x {bag['dim']} dims"]
