"""rm_lab_sdpa: transformers' sdpa with its padding masks, in fp32 on CPUs in bf16 (rm_lab/models/attention.py)."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rm_lab.core.config import compose
from rm_lab.models.attention import NAME, sdpa
from rm_lab.runner.build import build_backbone

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 128}
MODELS = {
    "bert": ["model=minilm-l6", "model.pretrained=false", "model.model_type=bert",
             *(f"++model.architecture.{k}={v}" for k, v in TINY.items())],
    "llama": ["model=smollm2-135m", "model.pretrained=false", "model.model_type=llama",
              *(f"+model.architecture.{k}={v}" for k, v in {**TINY, "vocab_size": 49152,
                                                             "num_key_value_heads": 1}.items())],
}


class AttentionDtypes(TorchDispatchMode):
    """The dtypes of the query each fused attention kernel receives."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.dtype] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "scaled_dot_product" in func.__name__:
            self.seen.append(args[0].dtype)
        return func(*args, **(kwargs or {}))


def ragged(rows: int = 6, width: int = 20, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, width + 1, (rows,), generator=g)
    lengths[0] = width
    mask = (torch.arange(width) < lengths[:, None]).long()
    return {"input_ids": torch.randint(5, 1000, (rows, width), generator=g) * mask, "attention_mask": mask}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_rm_lab_sdpa_is_the_models_attention_with_its_padding_mask(name):
    """The built backbone uses rm_lab_sdpa, and in fp32 its real tokens equal the same weights under
    transformers' eager attention; padding tokens changed change nothing (the mask is applied)."""
    backbone = build_backbone(compose(MODELS[name]))
    torch.manual_seed(0)
    model = backbone.build().eval()
    assert model.config._attn_implementation == NAME
    eager = build_backbone(compose([*MODELS[name], "model.attn_implementation=eager"])).build().eval()
    eager.load_state_dict(model.state_dict())
    batch = ragged()
    keep = batch["attention_mask"].bool()
    with torch.no_grad():
        ours = model(**batch).last_hidden_state
        theirs = eager(**batch).last_hidden_state
        other_pads = {**batch, "input_ids": torch.where(keep, batch["input_ids"], 7)}
        moved = model(**other_pads).last_hidden_state
    assert torch.allclose(ours[keep], theirs[keep], atol=1e-5), (ours[keep] - theirs[keep]).abs().max()
    assert torch.allclose(ours[keep], moved[keep], atol=1e-6)


def test_cpu_bf16_attention_runs_in_fp32_and_trains():
    """Under CPU bf16 autocast every attention kernel gets fp32 inputs (the layers' products stay
    bf16) and gradients reach every weight; in fp32 `sdpa` is torch's own function."""
    backbone = build_backbone(compose(MODELS["bert"]))
    torch.manual_seed(0)
    model = backbone.build()
    batch = ragged()
    seen = AttentionDtypes()
    with seen, torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**batch).last_hidden_state
    assert out.dtype == torch.float32 or out.dtype == torch.bfloat16
    assert seen.seen and set(seen.seen) == {torch.float32}, seen.seen
    out.float().pow(2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if not n.startswith("pooler")}
    assert len(grads) > 10 and all(g is not None and torch.isfinite(g).all() for g in grads.values())

    q, k, v = (torch.randn(2, 2, 5, 8) for _ in range(3))
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[1, ..., 3:] = False
    assert torch.equal(sdpa(q, k, v, attn_mask=mask),
                       torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = sdpa(q, k, v, attn_mask=mask)
    assert low.dtype == torch.bfloat16
    exact = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert (low.float() - exact).abs().max() < 1e-2


def test_the_kernel_choice_is_not_saved_with_the_model(tmp_path):
    """A saved model (what an export writes) names no rm_lab kernel: plain transformers loads it."""
    from transformers import AutoModel

    model = build_backbone(compose(MODELS["bert"])).build()
    model.save_pretrained(tmp_path)
    assert NAME not in json.dumps(json.loads((tmp_path / "config.json").read_text()))
    assert AutoModel.from_pretrained(tmp_path).config._attn_implementation != NAME
