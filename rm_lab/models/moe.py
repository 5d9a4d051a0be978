"""Sparse mixture of feed-forward experts with noisy top-k gating (Shazeer et al. 2017).

Each input row goes to its k highest-gated experts; the gate adds trainable, input-dependent
Gaussian noise while training. `aux_loss` (importance and load balance, the coefficient of
variation squared of each, as in the paper) keeps experts in use. `last_gates` holds the
dense gate matrix of the last forward pass, so callers can log the experts' load. Gating runs
in fp32 under mixed precision, and expert outputs are gathered in the input's dtype.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions.normal import Normal


class Expert(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def cv_squared(x: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation (0 for a single value)."""
    if x.numel() <= 1:
        return x.new_zeros(())
    x = x.float()
    return x.var() / (x.mean() ** 2 + 1e-10)


class NoisyTopKMoE(nn.Module):
    def __init__(self, dim: int, num_experts: int, hidden: int, k: int = 2, dropout: float = 0.1,
                 noisy_gating: bool = True):
        super().__init__()
        if not 1 <= k <= num_experts:
            raise ValueError(f"MoE top-k must be between 1 and the number of experts ({num_experts}), got {k}")
        self.num_experts, self.k, self.noisy_gating = num_experts, k, noisy_gating
        self.experts = nn.ModuleList(Expert(dim, hidden, dropout) for _ in range(num_experts))
        self.w_gate = nn.Parameter(torch.zeros(dim, num_experts))
        self.w_noise = nn.Parameter(torch.zeros(dim, num_experts))
        self.aux_loss = torch.zeros(())
        self.last_gates: torch.Tensor | None = None

    def _prob_in_top_k(self, clean, noisy, noise_std, top_values):
        """P(an expert stays in the top k under fresh noise): the smooth load estimator."""
        batch = clean.size(0)
        m = top_values.size(1)
        flat = top_values.flatten()
        pos_if_in = torch.arange(batch, device=clean.device) * m + self.k
        threshold_if_in = flat[pos_if_in].unsqueeze(1)
        is_in = noisy > threshold_if_in
        threshold_if_out = flat[pos_if_in - 1].unsqueeze(1)
        normal = Normal(clean.new_zeros(()), clean.new_ones(()))
        prob_if_in = normal.cdf((clean - threshold_if_in) / noise_std)
        prob_if_out = normal.cdf((clean - threshold_if_out) / noise_std)
        return torch.where(is_in, prob_if_in, prob_if_out)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gates [batch, experts], load [experts]) for inputs x [batch, dim], in fp32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._gates(x.float())

    def _gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        clean = x @ self.w_gate
        if self.noisy_gating and self.training:
            noise_std = F.softplus(x @ self.w_noise) + 1e-2
            logits = clean + torch.randn_like(clean) * noise_std
        else:
            noise_std, logits = None, clean
        top = min(self.k + 1, self.num_experts)
        top_values, top_index = logits.topk(top, dim=1)
        k_values, k_index = top_values[:, : self.k], top_index[:, : self.k]
        k_gates = torch.softmax(k_values, dim=1)
        gates = torch.zeros_like(logits).scatter(1, k_index, k_gates)
        if noise_std is not None and self.k < self.num_experts:
            load = self._prob_in_top_k(clean, logits, noise_std, top_values).sum(0)
        else:
            load = (gates > 0).sum(0).to(x.dtype)
        return gates, load

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates, load = self.gates(x)
        self.aux_loss = cv_squared(gates.sum(0)) + cv_squared(load)
        self.last_gates = gates.detach()
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows = gates[:, e].nonzero(as_tuple=True)[0]
            if rows.numel():
                weighted = expert(x[rows]) * gates[rows, e].unsqueeze(1)
                out = out.index_add(0, rows, weighted.to(out.dtype))
        return out
