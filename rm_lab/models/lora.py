"""LoRA adapters through peft: the paper's configuration, target modules per backbone family.

The router paper adapts the attention projections and every layer named `dense` (attention
output, intermediate and output) with r=12, alpha=768, dropout 0.1. Module names differ by
family (DeBERTa: query_proj/key_proj/value_proj; BERT/RoBERTa: query/key/value; GPT-2:
c_attn/c_proj/c_fc), so `target_modules: null` picks the family present in the model.
"""
from __future__ import annotations

from torch import nn

# (attention projections that identify the family, full target list); first match wins
FAMILIES = (
    (("query_proj", "key_proj", "value_proj"), ["query_proj", "key_proj", "value_proj", "dense"]),
    (("query", "key", "value"), ["query", "key", "value", "dense"]),
    (("c_attn",), ["c_attn", "c_proj", "c_fc"]),
    (("q_proj", "k_proj", "v_proj"), ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"]),
)


def default_targets(model: nn.Module) -> list[str]:
    """The LoRA target modules for the model's family (see FAMILIES)."""
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for signature, targets in FAMILIES:
        if all(s in leaves for s in signature):
            return [t for t in targets if t in leaves]
    raise ValueError(
        f"cannot tell which LoRA target modules to use for {type(model).__name__}: set "
        "method.lora.target_modules=[...] to the names of its linear layers")


def lora_config(model: nn.Module, r: int = 12, alpha: float = 768, dropout: float = 0.1,
                target_modules: list[str] | None = None, bias: str = "none"):
    from peft import LoraConfig

    targets = list(target_modules) if target_modules else default_targets(model)
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in leaves]
    if missing:
        raise ValueError(f"LoRA target modules {missing} are not in {type(model).__name__}; "
                         f"for this model the defaults are {default_targets(model)}")
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias=bias)


def adapter_parameters(model: nn.Module, adapter: str) -> dict[str, nn.Parameter]:
    """The parameters of one named LoRA adapter (lora_A/lora_B of every adapted layer)."""
    return {name: p for name, p in model.named_parameters()
            if "lora_" in name and f".{adapter}." in f"{name}."}


def base_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters of the adapted model that belong to no adapter."""
    return {name: p for name, p in model.named_parameters() if "lora_" not in name}


class ParameterView(nn.Module):
    """A module that only refers to existing parameters (to count or save a subset of them).

    Not registered anywhere, so the owning module's state dict is unchanged."""

    def __init__(self, params: dict[str, nn.Parameter], *modules: nn.Module):
        super().__init__()
        self.params = nn.ParameterList(params.values())
        self.extra = nn.ModuleList(modules)
