"""Parameter counts: the one place that counts a model's parameters (results.json `params`, the
memory plan, the parameter table, the zoo's sizes), and the linear layers' share that a FLOP
estimate needs."""
from __future__ import annotations

from torch import nn


def _sizes(params) -> dict[str, int]:
    """{"total", "trainable"} over parameters given once each."""
    params = list(params)
    return {"total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad)}


def _unique(modules) -> list[nn.Parameter]:
    """The modules' parameters, a tensor shared between (or within) them once."""
    return list({id(p): p for m in modules for p in m.parameters()}.values())


def count(module: nn.Module) -> dict[str, int]:
    """{"total", "trainable"}: the module's parameters, a shared tensor counted once (works on
    the meta device: shapes only)."""
    return _sizes(_unique([module]))


def count_components(components: dict[str, nn.Module]) -> dict:
    """{"total", "trainable", "by_component": {name: {"total", "trainable"}}}.

    Shared parameters (the same tensor in two components) are counted once in the totals.
    """
    return {**_sizes(_unique(components.values())),
            "by_component": {name: count(m) for name, m in components.items()}}


def linear_params(model: nn.Module) -> int:
    """Weights of the linear layers (each costs 2 FLOPs per token forward): not the parameter
    count, the figure a FLOP estimate multiplies by tokens."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def padded_lengths(lengths: list[int], batch_size: int) -> list[int]:
    """Each text's length once its batch (`batch_size` consecutive texts) is padded to the longest."""
    return [max(lengths[start:start + batch_size]) for start in range(0, len(lengths), batch_size)
            for _ in lengths[start:start + batch_size]]


def training_flops(lengths: list[int], linear: int, layers: int, hidden: int) -> float:
    """Forward + backward FLOPs of training on sequences of these real lengths: 6 x (linear
    parameters) per token plus 12 x layers x hidden x length per token for attention scores
    (Kaplan et al. 2020)."""
    return sum(6 * linear * s + 12 * layers * hidden * s * s for s in lengths)
