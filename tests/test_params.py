"""rm_lab.eval.params is the one parameter counter: a shared tensor counts once, frozen ones are
not trainable, and the memory plan and the zoo's sizes use it."""
from __future__ import annotations

import torch
from torch import nn

from rm_lab.eval.params import count, count_components, linear_params


def _tied() -> tuple[nn.Module, nn.Module]:
    embed = nn.Embedding(10, 4)                  # 40
    head = nn.Linear(4, 10, bias=True)           # 40 + 10, its weight tied to the embedding's
    head.weight = embed.weight
    norm = nn.LayerNorm(4)                       # 8, frozen
    norm.requires_grad_(False)
    return nn.Sequential(embed, norm), nn.Sequential(head)


def test_shared_tensors_count_once_and_frozen_ones_are_not_trainable():
    body, head = _tied()
    assert count(body) == {"total": 48, "trainable": 40}
    assert count(nn.Sequential(body, head)) == {"total": 58, "trainable": 50}
    counted = count_components({"body": body, "head": head})
    assert counted == {"total": 58, "trainable": 50,
                       "by_component": {"body": {"total": 48, "trainable": 40},
                                        "head": {"total": 50, "trainable": 50}}}


def test_counts_work_on_the_meta_device_and_linear_params_is_the_linear_weights():
    with torch.device("meta"):
        model = nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    assert count(model)["total"] == 800 + 8 * 16 + 16 + 16 + 1
    assert linear_params(model) == 8 * 16 + 16  # weights only: what a FLOP estimate multiplies
