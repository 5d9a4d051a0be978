"""Self-attention of packed tokens on a CPU, with a backward pass that copies less than autograd's.

`rm_lab.models.first_token` keeps a batch's real tokens packed in one (tokens, hidden) matrix and
lays them out padded, (rows, length), only for attention. Through autograd that layout costs two
whole-layout copies per layer in the backward pass: the three gradients of the query, keys and
values are stacked into one (3, rows, heads, length, size) tensor, then copied again into the
(rows, length, 3, heads, size) order of the projection before the real tokens are picked out.
On MiniLM's bf16 training steps those copies were ~10% of the step (profiled: `aten::copy_` of
[32, 256, 3, 12, 32], 11 ms each).

`PackedAttention` runs the same kernel, torch's fused (flash) CPU attention, in fp32 (as
`rm_lab.models.attention` does for bf16 on CPUs) and writes its backward by hand: each of the three
gradients is already in (rows, length, heads, size) memory order, so its real tokens are gathered
straight from it into the packed gradient. Forward and backward are the kernel's own
(`_scaled_dot_product_flash_attention_for_cpu` and its `_backward`): rewards and gradients equal
`F.scaled_dot_product_attention`'s (tests/test_packed_attention.py). Used on CPUs only, where that
kernel exists; other devices keep `F.scaled_dot_product_attention` and autograd.
"""
from __future__ import annotations

import torch

_FORWARD = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
_BACKWARD = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)


def available(tensor: torch.Tensor) -> bool:
    """Whether `packed_attention` runs for this tensor (a CPU tensor, with torch's CPU flash kernels)."""
    return tensor.device.type == "cpu" and _FORWARD is not None and _BACKWARD is not None


def padded(packed: torch.Tensor, index: torch.Tensor, pads: torch.Tensor, rows: int, length: int,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Packed tokens (tokens, width) laid out as (rows x length, width) in `dtype`, padding (`pads`) zero."""
    full = torch.empty(rows * length, packed.shape[-1], dtype=dtype, device=packed.device)
    full[pads] = 0  # masked out, but must be numbers
    return full.index_copy_(0, index, packed.to(dtype))


class PackedAttention(torch.autograd.Function):
    """(tokens, 3 x hidden) projected queries, keys and values -> (tokens, hidden) context."""

    @staticmethod
    def forward(ctx, projected, index, pads, bias, rows, length, heads, size, scale):
        full = padded(projected, index, pads, rows, length).view(rows, length, 3, heads, size)
        query, key, value = (full[:, :, part].transpose(1, 2) for part in range(3))  # (rows, heads, length, size)
        out, logsumexp = _FORWARD(query, key, value, 0.0, False, attn_mask=bias, scale=scale)
        ctx.save_for_backward(query, key, value, out, logsumexp, index, pads, bias)
        ctx.shape, ctx.scale, ctx.dtype = (rows, length, heads, size), scale, projected.dtype
        context = out.transpose(1, 2).reshape(rows * length, heads * size).index_select(0, index)
        return context.to(projected.dtype)

    @staticmethod
    def backward(ctx, grad_context):
        query, key, value, out, logsumexp, index, pads, bias = ctx.saved_tensors
        rows, length, heads, size = ctx.shape
        grad_out = padded(grad_context, index, pads, rows, length).view(rows, length, heads, size).transpose(1, 2)
        grads = _BACKWARD(grad_out, query, key, value, out, logsumexp, 0.0, False, attn_mask=bias, scale=ctx.scale)
        picked = [g.transpose(1, 2).reshape(rows * length, heads * size).index_select(0, index) for g in grads]
        return torch.cat(picked, dim=1).to(ctx.dtype), None, None, None, None, None, None, None, None


def packed_attention(projected: torch.Tensor, index: torch.Tensor, pads: torch.Tensor, mask: torch.Tensor,
                     rows: int, length: int, heads: int, size: int, scale: float) -> torch.Tensor:
    """Self-attention of packed tokens: `projected` (tokens, 3 x heads x size) their queries, keys
    and values side by side, `index` their places in the (rows x length) layout, `pads` the other
    places, `mask` (rows, 1, 1, length) True on real tokens. Returns the (tokens, heads x size)
    context in `projected`'s dtype."""
    bias = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device).masked_fill_(~mask, float("-inf"))
    return PackedAttention.apply(projected, index, pads, bias, rows, length, heads, size, float(scale))
