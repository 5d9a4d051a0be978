"""A pair's prompt computed once: decoders run the shared prompt, then both responses on its keys and values.

A pair batch holds chosen rows then rejected rows (`rm_lab.data.batch`), each the prompt's tokens
followed by a response's. Under causal attention a token's state depends only on the tokens before
it, so the tokens the two rows of a pair share from their start (the prompt and the template around
it) have the same states in both rows. `shared_pool` runs those tokens once per pair (the backbone
with a fresh cache), repeats the cached keys and values for the two responses (autograd sums their
gradients back into the one prompt pass), and runs the responses on them with their own positions
(prompt length + arange) and a mask over the prompt's real tokens and the response's. The state read
is each row's last real token, the one `pool(..., "last")` reads on the whole row: rewards and
gradients are those of the two full passes up to float rounding, on the same token ids.

The shared part is found on the token ids themselves (each pair's longest common prefix, at most
all but a row's last token), so whatever the tokenizer or template does at the prompt's boundary,
both paths read the same ids. Encoders attend both ways (a prompt token's state depends on the
response), so this does not apply to them: `model.share_prompt=true` with an encoder is refused
(`check_share_prompt`), and `auto` leaves them on the plain path. Gradient checkpointing drops the
cache inside checkpointed layers, so training with it takes the plain path as well.
"""
from __future__ import annotations

import torch
from torch import nn

SHARE_PROMPT = ("auto", True, False)


def check_share_prompt(share_prompt, kind: str, pooling: str, gradient_checkpointing: bool, name: str) -> bool:
    """`model.share_prompt` validated -> whether the reward encoder may share prompts. auto: on for
    decoders pooling the last token without gradient checkpointing; true: the same, refused with the
    reason where it cannot hold exactly; false: off."""
    if share_prompt not in SHARE_PROMPT or share_prompt is None:
        raise ValueError(f"model.share_prompt must be auto, true or false, got {share_prompt!r}")
    if share_prompt is False:
        return False
    reasons = []
    if kind != "decoder":
        reasons.append(f"{name} is an {kind}: its attention goes both ways, so a prompt token's state depends on "
                       "the response and the prompt cannot be computed once exactly")
    elif pooling != "last":
        reasons.append(f"it reads the last token only, and {name} pools with {pooling!r}")
    if gradient_checkpointing:
        reasons.append("transformers drops the cache inside checkpointed layers: set model.gradient_checkpointing=false")
    if reasons and share_prompt is True:
        raise ValueError("model.share_prompt=true cannot apply: " + "; ".join(reasons) +
                         ". Use model.share_prompt=auto or false (the plain path: every text in full)")
    return not reasons


def prompt_lengths(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor | None:
    """Each pair's shared tokens (B,): the longest common prefix of its chosen row (row i) and its
    rejected row (row B + i), at most all but the shorter row's last token. None when the rows do
    not form right-padded pairs (an odd count, or a mask with gaps)."""
    rows = input_ids.shape[0]
    if rows % 2 or rows == 0:
        return None
    mask = attention_mask.ne(0)
    if not torch.equal(mask, mask.int().cumprod(1).bool()):  # left padding or holes
        return None
    half = rows // 2
    same = (input_ids[:half] == input_ids[half:]) & mask[:half] & mask[half:]
    common = same.int().cumprod(1).sum(1)
    lengths = mask.sum(1)
    return torch.minimum(common, torch.minimum(lengths[:half], lengths[half:]) - 1).clamp(min=0)


def _base(model: nn.Module) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def shared_pool(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                prefix: torch.Tensor) -> torch.Tensor:
    """The last real token's state of each row (2B, hidden), the prompt of pair i (its first
    prefix[i] tokens, >= 1) run once and both responses on its cached keys and values."""
    from transformers import DynamicCache

    half = input_ids.shape[0] // 2
    device = input_ids.device
    width = int(prefix.max())
    prompt_mask = (torch.arange(width, device=device) < prefix[:, None]).long()  # right-padded prompts
    prompt = model(input_ids=input_ids[:half, :width], attention_mask=prompt_mask, cache=DynamicCache(),
                   use_cache=True)
    # a fresh cache for the responses, the prompt's keys and values once per row (chosen, then rejected)
    states = [(torch.cat([keys, keys]), torch.cat([values, values])) for keys, values, *_ in prompt.cache]
    cache = DynamicCache(ddp_cache_data=states, config=_base(model).config)
    starts = prefix.repeat(2)
    lengths = attention_mask.ne(0).sum(1) - starts
    span = int(lengths.max())
    steps = torch.arange(span, device=device)
    positions = starts[:, None] + steps
    response_mask = (steps < lengths[:, None]).long()
    ids = input_ids.gather(1, positions.clamp(max=input_ids.shape[1] - 1))
    out = model(input_ids=ids, attention_mask=torch.cat([prompt_mask.repeat(2, 1), response_mask], 1),
                position_ids=positions, cache=cache, use_cache=True)
    hidden = out.last_hidden_state
    return hidden[torch.arange(hidden.shape[0], device=device), lengths - 1]


def shared_tokens(attention_mask: torch.Tensor, prefix: torch.Tensor) -> tuple[int, int]:
    """(tokens the shared path runs, tokens the plain path runs) of a batch, real tokens only."""
    total = int(attention_mask.ne(0).sum())
    return total - int(prefix.sum()), total
