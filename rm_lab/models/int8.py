"""Int8 scoring on CPUs: a trained reward model's backbone with int8 linear layers.

    python -m rm_lab.score RUN_DIR rows.jsonl --precision int8

`quantize_backbones(module)` replaces the linear layers of every backbone the module scores
with (its `RewardEncoder`s) by dynamically quantized ones (torch's `quantize_dynamic`: int8
weights, per-batch int8 activations, fbgemm kernels, which use VNNI on x86 CPUs that have it).
Reward and router heads stay in fp32. A BaseLoRA backbone has its adapter merged into its
weights first. Rewards move by about 1e-2 of their scale, so a near-tie can flip. CPU only;
ARLISS (adapters switched per input) and embedding heads (no backbone of their own) are refused.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from rm_lab.models.backbone import RewardEncoder


def has_adapters(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("peft.") for m in model.modules())


def quantize_backbones(module: nn.Module) -> int:
    """Int8 linear layers in every `RewardEncoder` of `module`, in place; returns how many
    backbones were quantized. Raises ValueError when there is none or one keeps switching adapters."""
    encoders = [m for m in module.modules() if isinstance(m, RewardEncoder)]
    if not encoders:
        raise ValueError("int8 scoring quantizes a fine-tuned backbone; this method scores cached "
                         "embeddings (embedding heads): use --precision fp32 or bf16")
    if getattr(module, "merge_at_inference", None) is not None:
        raise ValueError("int8 scoring needs fixed backbone weights; ARLISS switches LoRA adapters per "
                         "input: use --precision fp32 or bf16")
    if any(p.device.type != "cpu" for p in module.parameters()):
        raise ValueError("int8 scoring runs on CPU only (--device cpu); on GPUs use --precision bf16")
    for encoder in encoders:
        model = encoder.model
        if has_adapters(model):
            model = model.merge_and_unload()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notice that new quantization work lives in torchao
            encoder.model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    return len(encoders)
