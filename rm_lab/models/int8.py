"""Int8 scoring on CPUs: a trained reward model's backbone with int8 linear layers.

    python -m rm_lab.score RUN_DIR rows.jsonl --precision int8

`quantize_backbones(module)` replaces the linear layers of every backbone the module scores
with (its `RewardEncoder`s) by dynamically quantized ones (torch's `quantize_dynamic`: int8
weights, per-batch int8 activations, fbgemm kernels, which use VNNI on x86 CPUs that have it).
Reward and router heads stay in fp32. A BaseLoRA backbone has its adapter merged into its
weights first. Approximate: on `make bench`'s run (MiniLM, one epoch on 600 HH pairs) rewards
moved by up to 0.056 while the median fp32 margin was 0.012, so 22% of the 200 test pairs changed
winner (accuracy 0.555 vs fp32's 0.570); per-channel weights moved them less (0.039) at 0.8x the
speed. Check `make bench`'s score_int8 figures on your model before relying on it. CPU only;
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
