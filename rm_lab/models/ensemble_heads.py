"""Small reward heads over fixed embeddings, K of them evaluated in one batched pass.

`HeadEnsemble(dim, hidden=(1024, 512), k=5)` holds K independent MLPs (the reference code's
1024-512 ReLU MLP; `hidden=()` gives linear heads), each initialised from its own seed:
x (N, dim) -> rewards (K, N). `combine()` turns the K rewards into one by an ensemble rule.
"""
from __future__ import annotations

import math

import torch
from torch import nn

RULES = ("mean", "min", "mean_minus_var", "mean_minus_std", "single")


class HeadEnsemble(nn.Module):
    def __init__(self, input_dim: int, hidden: tuple[int, ...] | list[int] = (1024, 512), k: int = 1,
                 seeds: list[int] | None = None):
        super().__init__()
        if k < 1:
            raise ValueError(f"ensemble size must be >= 1, got {k}")
        seeds = list(seeds) if seeds is not None else list(range(k))
        if len(seeds) != k:
            raise ValueError(f"need one seed per head: {k} heads, {len(seeds)} seeds")
        self.k, self.input_dim, self.hidden = k, int(input_dim), [int(h) for h in hidden]
        dims = [self.input_dim, *self.hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            w = torch.stack([(torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound for g in gens])
            b = torch.stack([(torch.rand(1, fan_out, generator=g) * 2 - 1) * bound for g in gens])
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, dim) -> rewards (K, N), in fp32 even under mixed precision."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._forward(x.float())

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.k, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        return h.squeeze(-1)


def combine(scores: torch.Tensor, rule: str = "mean", lam: float = 1.0, member: int = 0) -> torch.Tensor:
    """K rewards per input (K, N) -> one reward per input (N,).

    mean; min (the worst case); mean_minus_var: mean - lam * variance; mean_minus_std:
    mean - lam * std (population variance over the K members, so K=1 gives the member's
    reward); single: member `member` alone.
    """
    if rule == "mean":
        return scores.mean(0)
    if rule == "min":
        return scores.min(0).values
    if rule == "mean_minus_var":
        return scores.mean(0) - lam * scores.var(0, unbiased=False)
    if rule == "mean_minus_std":
        return scores.mean(0) - lam * scores.var(0, unbiased=False).sqrt()
    if rule == "single":
        if not 0 <= member < scores.shape[0]:
            raise ValueError(f"ensemble member {member} does not exist: the ensemble has {scores.shape[0]} heads")
        return scores[member]
    raise ValueError(f"unknown ensemble rule {rule!r}; valid: {', '.join(RULES)}")
