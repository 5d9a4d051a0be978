"""The first token alone through an encoder's last layer, and no work on padding: what a first-token reward reads, for less work.

A reward read from the first token (`[CLS]`, BERT's pooler) needs the last layer's output at that
token only. Every other token of the last layer is computed and thrown away: its query projection,
attention output, feed-forward and layer norms, 10 of the layer's 12 hidden x hidden products per
token. `first_token_state` runs the embeddings and every layer but the last with the model's own
modules, then the last layer with the first token as the only query, and returns that token's
state: the model's own result (same modules, same weights, same attention mask), computed for one
token instead of all. MiniLM-L6 trains ~1/7 faster. The other tokens' keys and values are not
projected either (`attend_folded`): the query is multiplied into the key weights and the attended
tokens into the value weights, which leaves the last layer 2 x heads x hidden products per token
(on a MiniLM training batch its forward and backward: 38 ms against 135 ms with them projected).

The layers also skip padding: a batch's real tokens are packed into one (tokens, hidden) matrix,
and the projections, feed-forward, layer norms and residuals run on it alone; only attention sees
the padded (rows, length) layout, where the mask keeps padding out as in the model. The padded
rows' values never reach a real token, so rewards and gradients are the model's (a test holds them
to 1e-5). On the side-by-side bench's batches (HH-RLHF, length-grouped, 16 pairs) padding was 12%
of the tokens. The query, key and value projections run as one product (their weights
concatenated), which bf16 matrix kernels run faster than three small ones.
Models whose layers this reproduces: `SUPPORTED` (BERT's structure); others take the whole
forward pass. In training with dropout (`model.disable_dropout=false`, the paper recipes) the
attention probabilities get the model's dropout as its own sdpa path applies it (same probability,
other random draws); the hidden dropouts are the model's own modules. On CPUs without attention
dropout the attention itself is `rm_lab.models.packed_attention`.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from rm_lab.models import packed_attention
from rm_lab.models.attention import cpu_low_precision, sdpa

SUPPORTED = ("BertModel",)  # transformers classes with BERT's embeddings, encoder.layer and attention modules


def supports(model: nn.Module) -> bool:
    """Whether `first_token_state` reproduces this transformer (peft-wrapped or not) exactly."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    return (type(base).__name__ in SUPPORTED and config is not None and not config.is_decoder
            and not getattr(config, "add_cross_attention", False)
            and getattr(base, "_compiled_call_impl", None) is None)  # model.compile=true: its own forward


def first_token_state(model: nn.Module, attention_mask: torch.Tensor, input_ids: torch.Tensor | None = None,
                      inputs_embeds: torch.Tensor | None = None,
                      token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The last layer's output at the first token, (N, 1, hidden), of a BERT-structured model
    (`supports`): `model(...).last_hidden_state[:, :1]`, without the other tokens' last layer and
    without computing padding (rows whose first token is padding take the padded layout)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, inputs_embeds=inputs_embeds)
    keep = attention_mask.ne(0)
    if not bool(keep[:, 0].all()):
        keep = torch.ones_like(keep)  # a row led by padding: every position computed, the mask kept
    layout = Packing(keep, attention_mask.ne(0)[:, None, None, :])
    firsts = torch.arange(layout.rows, device=keep.device) * layout.length  # each row's first token, a real one
    first = torch.searchsorted(layout.index, firsts)  # its place among the packed tokens
    packed = hidden.flatten(0, 1).index_select(0, layout.index)
    *layers, last = base.encoder.layer
    for layer in layers:
        packed = packed_layer(layer, packed, layout)
    state = packed.index_select(0, first)
    if folds(last.attention.self):
        context = attend_folded(last.attention.self, packed, layout, state)
    else:
        context = attend(last.attention.self, packed, layout, queries=state)
    context = last.attention.output(context, state)
    return last.output(last.intermediate(context), context)[:, None]


class Packing:
    """Where a batch's packed tokens sit in its (rows x length) layout: `index` (the kept tokens'
    places, in order), `pads` (the others'), and the attention `mask` (rows, 1, 1, length)."""

    def __init__(self, keep: torch.Tensor, mask: torch.Tensor):
        self.rows, self.length = keep.shape
        flat = keep.flatten()
        self.index = flat.nonzero().squeeze(1)
        self.pads = (~flat).nonzero().squeeze(1)
        self.mask = mask


def projections(attention: nn.Module, packed: torch.Tensor, parts: tuple[str, ...] = ("query", "key", "value")):
    """The projections `parts` of packed tokens, side by side (tokens, parts x hidden): one product
    over their concatenated weights when all are plain `nn.Linear`, else each module called (a LoRA
    adapter, an int8 layer)."""
    modules = [getattr(attention, part) for part in parts]
    if all(type(m) is nn.Linear for m in modules):
        weight = torch.cat([m.weight for m in modules])
        bias = None if any(m.bias is None for m in modules) else torch.cat([m.bias for m in modules])
        return torch.nn.functional.linear(packed, weight, bias)
    return torch.cat([m(packed) for m in modules], dim=-1)


def attend(attention: nn.Module, packed: torch.Tensor, layout: Packing, queries: torch.Tensor | None = None) -> torch.Tensor:
    """Self-attention of packed tokens (`layout`: their places in the rows x length layout), the
    context packed like them; with `queries` (rows, hidden), one query per row: those tokens'."""
    rows, length, index = layout.rows, layout.length, layout.index
    heads, size = attention.num_attention_heads, attention.attention_head_size
    parts = ("key", "value") if queries is not None else ("query", "key", "value")
    projected = projections(attention, packed, parts)
    dropout = attention.dropout.p if attention.training and isinstance(getattr(attention, "dropout", None),
                                                                         nn.Dropout) else 0.0
    if queries is None and not dropout and packed_attention.available(projected):  # the same kernel, fewer copies
        return packed_attention.packed_attention(projected, index, layout.pads, layout.mask, rows, length, heads, size,
                                                 attention.scaling)
    low = cpu_low_precision(projected)  # attention runs in fp32 there (rm_lab.models.attention)
    full = packed_attention.padded(projected, index, layout.pads, rows, length,
                                   torch.float32 if low is not None else projected.dtype)
    full = full.view(rows, length, len(parts), heads, size).permute(2, 0, 3, 1, 4)  # (part, row, head, position, size)
    if queries is None:
        query, key, value = full.unbind(0)
    else:
        key, value = full.unbind(0)
        query = attention.query(queries).view(rows, heads, 1, size).to(key.dtype)
    context = sdpa(query, key, value, attn_mask=layout.mask, scale=attention.scaling, dropout_p=dropout,
                   cast_back=False)  # dropout on the attention probabilities, as the model's own sdpa path
    context = context.transpose(1, 2).reshape(-1, heads * size)
    context = context if queries is not None else context.index_select(0, index)
    return context if low is None else context.to(low)


def folds(attention: nn.Module) -> bool:
    """Whether `attend_folded` computes this attention exactly: plain linear keys and values (no LoRA
    adapter, no int8 layer) and no dropout on the attention probabilities."""
    dropout = getattr(attention, "dropout", None)
    return (type(attention.key) is nn.Linear and type(attention.value) is nn.Linear
            and not (attention.training and isinstance(dropout, nn.Dropout) and dropout.p > 0))


def attend_folded(attention: nn.Module, packed: torch.Tensor, layout: Packing, queries: torch.Tensor) -> torch.Tensor:
    """One query per row (`queries`, (rows, hidden)) attending to its row's packed tokens, without
    projecting them to keys and values: a head's scores q . (x Wk + bk) are (q Wk) . x plus a
    constant q . bk that softmax drops, and its context sum_j p_j (x_j Wv + bv) is (sum_j p_j x_j) Wv
    + bv, since the probabilities sum to 1. Per token that is 2 x heads x hidden multiplications
    instead of 2 x hidden x hidden (MiniLM: 9,216 against 294,912). The constant q . bk is still added,
    so the key bias gets its gradient (zero up to rounding) as in the whole model. Returns (rows,
    hidden), as `attend`."""
    rows, length = layout.rows, layout.length
    heads, size = attention.num_attention_heads, attention.attention_head_size
    query = attention.query(queries)
    low = cpu_low_precision(query)  # in fp32 there, as `attend`
    work = torch.float32 if low is not None else query.dtype
    with torch.autocast("cpu", enabled=False) if low is not None else contextlib.nullcontext():
        tokens = packed_attention.padded(packed, layout.index, layout.pads, rows, length, work).view(rows, length, -1)
        query = query.to(work).view(rows, heads, size).transpose(0, 1)  # (heads, rows, size)
        key = attention.key.weight.to(work).view(heads, size, -1)
        folded = torch.bmm(query, key).transpose(0, 1)  # (rows, heads, hidden): each head's query times its key weights
        scores = torch.bmm(folded, tokens.transpose(1, 2))  # (rows, heads, length)
        if attention.key.bias is not None:  # constant along a row: kept so the bias has its (zero) gradient
            scores = scores + (query * attention.key.bias.to(work).view(heads, 1, size)).sum(-1).transpose(0, 1)[..., None]
        scores = (scores * attention.scaling).masked_fill(~layout.mask[:, 0], float("-inf"))
        mixed = torch.bmm(scores.softmax(-1), tokens).transpose(0, 1)  # (heads, rows, hidden)
        value = attention.value.weight.to(work).view(heads, size, -1)
        context = torch.bmm(mixed, value.transpose(1, 2)).transpose(0, 1)  # (rows, heads, size)
        if attention.value.bias is not None:
            context = context + attention.value.bias.to(work).view(heads, size)
        context = context.reshape(rows, heads * size)
    return context if low is None else context.to(low)


def packed_layer(layer: nn.Module, packed: torch.Tensor, layout: Packing) -> torch.Tensor:
    """One BERT layer (`BertLayer.forward`) on packed real tokens."""
    context = attend(layer.attention.self, packed, layout)
    attended = layer.attention.output(context, packed)
    return layer.output(layer.intermediate(attended), attended)
