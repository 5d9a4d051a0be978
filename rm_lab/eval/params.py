"""Parameter counts, total and trainable, by component."""
from __future__ import annotations

from torch import nn


def count(module: nn.Module) -> dict[str, int]:
    params = list({id(p): p for p in module.parameters()}.values())
    return {"total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad)}


def count_components(components: dict[str, nn.Module]) -> dict:
    """{"total", "trainable", "by_component": {name: {"total", "trainable"}}}.

    Shared parameters (the same tensor in two components) are counted once in the totals.
    """
    by = {name: count(m) for name, m in components.items()}
    unique = {id(p): p for m in components.values() for p in m.parameters()}
    return {
        "total": sum(p.numel() for p in unique.values()),
        "trainable": sum(p.numel() for p in unique.values() if p.requires_grad),
        "by_component": by,
    }
