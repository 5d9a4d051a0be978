"""PackedAttention: the CPU flash kernel on packed tokens with a hand-written backward must give
`F.scaled_dot_product_attention`'s context and gradients through autograd, in fp32 and in bf16."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rm_lab.models import packed_attention
from rm_lab.models.first_token import Packing


def _layout(rows: int = 5, length: int = 9, seed: int = 0) -> Packing:
    lengths = torch.randint(1, length + 1, (rows,), generator=torch.Generator().manual_seed(seed))
    lengths[1] = length
    keep = torch.arange(length)[None] < lengths[:, None]
    return Packing(keep, keep[:, None, None, :])


def _reference(projected, layout, heads, size, scale):
    """Autograd's way: scatter into the padded layout, torch's attention in fp32, gather back."""
    rows, length = layout.rows, layout.length
    full = torch.zeros(rows * length, projected.shape[1], dtype=torch.float32)
    full = full.index_copy(0, layout.index, projected.float())
    q, k, v = full.view(rows, length, 3, heads, size).permute(2, 0, 3, 1, 4).unbind(0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=layout.mask, scale=scale)
    return out.transpose(1, 2).reshape(rows * length, heads * size).index_select(0, layout.index).to(projected.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_attention_equals_autograd_through_torch_attention(dtype):
    heads, size = 3, 4
    layout = _layout()
    assert layout.pads.numel() > 0  # some rows are padded
    tokens = layout.index.numel()
    g = torch.Generator().manual_seed(1)
    projected = torch.randn(tokens, 3 * heads * size, generator=g).to(dtype)
    upstream = torch.randn(tokens, heads * size, generator=g).to(dtype)
    assert packed_attention.available(projected)
    results = []
    for fn in (_reference, lambda p, lay, h, s, sc: packed_attention.packed_attention(
            p, lay.index, lay.pads, lay.mask, lay.rows, lay.length, h, s, sc)):
        leaf = projected.clone().requires_grad_()
        context = fn(leaf, layout, heads, size, size ** -0.5)
        (context.float() * upstream.float()).sum().backward()
        results.append((context.detach(), leaf.grad))
    (ref, ref_grad), (out, grad) = results
    assert out.dtype == dtype and grad.dtype == dtype and out.shape == (tokens, heads * size)
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    assert torch.allclose(out.float(), ref.float(), atol=tol), (out.float() - ref.float()).abs().max()
    assert torch.allclose(grad.float(), ref_grad.float(), atol=tol), (grad.float() - ref_grad.float()).abs().max()
    assert grad.abs().sum() > 0  # queries, keys and values all get gradients
    assert all(part.abs().sum() > 0 for part in grad.float().split(heads * size, dim=1))


def test_other_rows_and_padding_never_reach_a_row():
    """A row's context is the same in a batch (other rows, padding in the layout) as alone."""
    heads, size = 2, 4
    layout = _layout(rows=4, length=7, seed=3)
    tokens = layout.index.numel()
    projected = torch.randn(tokens, 3 * heads * size, generator=torch.Generator().manual_seed(2))
    batch = packed_attention.packed_attention(projected, layout.index, layout.pads, layout.mask, layout.rows, layout.length,
                                              heads, size, 0.5)
    first_row = int(layout.mask[0, 0, 0].sum())
    assert first_row < layout.length  # the first row is padded
    alone = Packing(layout.mask[:1, 0, 0].clone(), layout.mask[:1])
    row = packed_attention.packed_attention(projected[:first_row], alone.index, alone.pads, alone.mask, 1, layout.length,
                                            heads, size, 0.5)
    assert torch.allclose(batch[:first_row], row, atol=1e-6)


def test_attention_dropout_in_training_is_applied_and_unbiased():
    """With the model's dropout on (the paper recipes) the packed path drops attention
    probabilities as the model's sdpa path does: each draw differs from the output without dropout,
    and their mean converges to it (dropout scales the kept probabilities by 1 / (1 - p))."""
    from transformers import BertConfig, BertModel

    from rm_lab.models import first_token

    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=8, num_attention_heads=2, intermediate_size=16, num_hidden_layers=1,
                                 attention_probs_dropout_prob=0.3))
    attention = model.encoder.layer[0].attention.self
    layout = _layout(rows=3, length=6, seed=4)
    packed = torch.randn(layout.index.numel(), 8)
    assert first_token.supports(model.train())
    with torch.no_grad():
        exact = first_token.attend(attention.eval(), packed, layout)
        attention.train()
        draws = torch.stack([first_token.attend(attention, packed, layout) for _ in range(3000)])
    assert not torch.allclose(draws[0], exact, atol=1e-3)  # dropout was applied
    assert torch.allclose(draws.mean(0), exact, atol=0.05), (draws.mean(0) - exact).abs().max()
