"""The attention kernel rm_lab gives transformers: `rm_lab_sdpa`, transformers' `sdpa` with fp32 on CPUs in bf16.

On a CPU, torch's fused (flash) attention is slow in bf16: on MiniLM-L6's training batches
(16 pairs, length up to 256, a Xeon with AMX, 2 threads) its backward took 96 ms per layer in bf16
against 31 ms in fp32, 40% of a bf16 autocast training step, and the whole step ran at 15 pairs/s
in bf16 (10 in fp32). Run in fp32 inside a bf16 step (the query, keys, values and mask cast up, the
output cast back), the same step ran at 25 pairs/s: the bf16 matrix products elsewhere keep their
speed, and attention's softmax is exact in fp32. `rm_lab_sdpa` does that on CPUs whenever the
inputs are bf16 (autocast or bf16 weights) and is transformers' own `sdpa` everywhere else (GPUs
keep their bf16 flash kernels).

`use_fp32_cpu_attention(model)` switches a transformer whose attention layers read transformers'
AttentionInterface (BERT, Llama, Qwen2, ...) from `sdpa` to `rm_lab_sdpa`; models with their own
attention code (DeBERTa-v2) are left as they are. The choice lives only in the loaded model, not in
its saved config: an export loads in plain transformers with its default kernel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NAME = "rm_lab_sdpa"
CPU_SLOW = (torch.bfloat16,)  # dtypes whose CPU flash attention is slower than fp32's


NO_BF16 = ("this CPU has no bf16 matrix instructions (AVX512-BF16 or AMX), so torch runs bf16 products on a slow "
           "fallback, tens of times slower than fp32")  # what the plan and the bench say where `cpu_bf16_native` is False


def cpu_bf16_native() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), as torch's oneDNN reports
    it. Without them (AVX2 CPUs: most AMD and older Intel ones) torch's bf16 matrix products run on a
    fallback path, about 1 GFLOP/s on an AMD EPYC where fp32 ran at ~100: bf16 there is much slower
    than fp32, not faster."""
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        if probe is not None:
            return bool(probe())
    except RuntimeError:
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line.split() for line in info if line.startswith("flags")), [])
    except OSError:
        return True  # unknown: assume it has them (no warning where one cannot tell)
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_low_precision(query: torch.Tensor) -> torch.dtype | None:
    """The bf16 dtype this CPU attention would run in (its inputs' or autocast's), else None."""
    if query.device.type != "cpu":
        return None
    if query.dtype in CPU_SLOW:
        return query.dtype
    if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") in CPU_SLOW:
        return torch.get_autocast_dtype("cpu")
    return None


def upcast(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    """Floating tensors as fp32 (boolean masks and None as they are)."""
    return [t.float() if t is not None and t.is_floating_point() else t for t in tensors]


def sdpa(query, key, value, attn_mask=None, cast_back: bool = True, **kwargs) -> torch.Tensor:
    """`F.scaled_dot_product_attention`, in fp32 on a CPU in bf16 (the result in bf16, or left in
    fp32 with `cast_back=False`)."""
    low = cpu_low_precision(query)
    if low is None:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, **kwargs)
    with torch.autocast("cpu", enabled=False):
        query, key, value, attn_mask = upcast(query, key, value, attn_mask)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, **kwargs)
    return out.to(low) if cast_back else out


def rm_lab_sdpa(module: nn.Module, query, key, value, attention_mask, **kwargs):
    """transformers' `sdpa` attention function, in fp32 on a CPU in bf16 (AttentionInterface signature)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    low = cpu_low_precision(query)
    if low is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    with torch.autocast("cpu", enabled=False):
        query, key, value, attention_mask = upcast(query, key, value, attention_mask)
        output, weights = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    return output.to(low), weights


def register() -> str:
    """`rm_lab_sdpa` registered as an attention function and, with `sdpa`'s masks, as a mask
    function (without one, transformers builds no padding mask for it)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, rm_lab_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME


def use_fp32_cpu_attention(model: nn.Module) -> bool:
    """Switch `model` (transformers, peft-wrapped or not) from `sdpa` to `rm_lab_sdpa`; whether it was switched."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    if not getattr(base, "_can_set_attn_implementation", lambda: False)():
        return False
    base.set_attn_implementation(register())
    return True
