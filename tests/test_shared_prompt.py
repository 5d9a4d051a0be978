"""A pair's prompt computed once (rm_lab/models/shared_prompt.py): on a tiny Llama built from config,
rewards and every parameter's gradient equal the two full passes on the same token ids (fp32, 1e-5)."""
from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from rm_lab.core.config import compose
from rm_lab.data.batch import pair_batch, split_rewards
from rm_lab.models.backbone import Backbone
from rm_lab.models.heads import RewardModel
from rm_lab.models.losses import bradley_terry_losses
from rm_lab.models.shared_prompt import prompt_lengths

ARCH = {"vocab_size": 97, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128}


def tiny_llama(share_prompt, chunk_tokens=None, attn="sdpa") -> tuple[Backbone, RewardModel]:
    from transformers import AutoModel

    backbone = Backbone(name="tiny-llama", source="tiny-llama", kind="decoder", pretrained=False, model_type="llama",
                        architecture=ARCH, head="nobias", chunk_tokens=chunk_tokens, share_prompt=share_prompt,
                        attn_implementation=attn)
    torch.manual_seed(0)
    config = backbone.config()
    config._attn_implementation = attn
    model = AutoModel.from_config(config, dtype=torch.float32)
    reward = RewardModel(backbone, model=model)
    torch.nn.init.normal_(reward.head.linear.weight, std=0.5)
    return backbone, reward.train()


def pairs_batch() -> dict:
    """Prompts of 7, 3, 12 and 1 tokens; responses that share their first tokens, one that is a
    prefix of the other, and lengths that leave right padding in every row."""
    g = torch.Generator().manual_seed(1)

    def ids(n):
        return torch.randint(1, 97, (n,), generator=g).tolist()

    prompts = [ids(7), ids(3), ids(12), ids(1)]
    chosen = [ids(5), [5, 6, 7] + ids(4), ids(2), ids(9)]
    rejected = [ids(11), [5, 6, 7] + ids(1), chosen[2] + ids(3), ids(1)]
    return pair_batch([p + c for p, c in zip(prompts, chosen)], [p + r for p, r in zip(prompts, rejected)],
                      prompts, 0, [0] * 4, [str(i) for i in range(4)])


def run(reward: RewardModel, batch: dict) -> tuple[torch.Tensor, dict, int]:
    """Rewards, every parameter's gradient of the pairs' Bradley-Terry loss, tokens embedded."""
    embedded = []
    hook = reward.encoder.model.get_input_embeddings().register_forward_hook(
        lambda module, args, out: embedded.append(int(args[0].numel())))
    reward.zero_grad()
    rewards = reward(batch["input_ids"], batch["attention_mask"])
    bradley_terry_losses(*split_rewards(rewards)).mean().backward()
    hook.remove()
    return rewards.detach(), {n: p.grad.clone() for n, p in reward.named_parameters() if p.requires_grad}, sum(embedded)


@pytest.mark.parametrize("chunk_tokens, attn", [(None, "sdpa"), (40, "sdpa"), (None, "eager")])
def test_rewards_and_gradients_equal_the_full_passes(chunk_tokens, attn):
    batch = pairs_batch()
    _, reward = tiny_llama(True, chunk_tokens, attn)
    shared = run(reward, batch)
    reward.encoder.share_prompt = False  # the plain path, same weights, same token ids
    plain = run(reward, batch)
    torch.testing.assert_close(shared[0], plain[0], rtol=0, atol=1e-5)
    assert set(shared[1]) == set(plain[1]) and len(plain[1]) == 3 + 9 * ARCH["num_hidden_layers"]
    for name, grad in plain[1].items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(shared[1][name], grad, rtol=0, atol=1e-5, msg=name)
    # the shared path ran each pair's common prefix once: fewer tokens went through the embeddings
    prefix = prompt_lengths(batch["input_ids"], batch["attention_mask"])
    assert prefix.tolist() == [7, 6, 13, 1]  # prompt + a common response start; a prefix response keeps its last token
    if chunk_tokens is None:
        width = batch["input_ids"].shape[1]
        assert plain[2] == 8 * width
        assert shared[2] < plain[2]


def test_rows_that_are_not_right_padded_pairs_take_the_plain_path():
    mask = torch.tensor([[1, 1, 0], [0, 1, 1]])
    assert prompt_lengths(torch.ones(2, 3, dtype=torch.long), mask) is None
    assert prompt_lengths(torch.ones(3, 3, dtype=torch.long), torch.ones(3, 3, dtype=torch.long)) is None
    _, reward = tiny_llama(True)
    ids = torch.tensor([[5, 6, 7], [8, 6, 7]])  # no common first token
    assert reward.encoder.shared_prefix(ids, torch.ones_like(ids)) is None


def test_the_switch_composes_and_refuses_encoders():
    """Hydra wraps the backbone's ValueError; its message is what the user reads."""
    decoder = instantiate(compose(["model=smollm2-135m"]).model)
    assert decoder.share_prompt is True
    assert instantiate(compose(["model=smollm2-135m", "model.share_prompt=false"]).model).share_prompt is False
    assert instantiate(compose(["model=qwen2.5-0.5b-instruct"]).model).share_prompt is False  # checkpointing
    assert instantiate(compose(["model=minilm-l6"]).model).share_prompt is False
    with pytest.raises(Exception, match="attention goes both ways"):
        instantiate(compose(["model=minilm-l6", "model.share_prompt=true"]).model)
    with pytest.raises(Exception, match="gradient_checkpointing=false"):
        instantiate(compose(["model=qwen2.5-0.5b-instruct", "model.share_prompt=true"]).model)
    with pytest.raises(Exception, match="must be auto, true or false"):
        instantiate(compose(["model=smollm2-135m", "model.share_prompt=maybe"]).model)


def test_a_lora_wrapped_decoder_shares_exactly():
    """BaseLoRA's reward encoder: the peft-wrapped backbone takes the cache and positions through."""
    from peft import LoraConfig, get_peft_model

    backbone, reward = tiny_llama(True)
    peft = get_peft_model(reward.encoder.model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                           init_lora_weights=False))
    reward = RewardModel(backbone, model=peft).train()
    batch = pairs_batch()
    shared = run(reward, batch)
    reward.encoder.share_prompt = False
    plain = run(reward, batch)
    torch.testing.assert_close(shared[0], plain[0], rtol=0, atol=1e-5)
    assert len(plain[1]) == 4 * ARCH["num_hidden_layers"] + 1  # LoRA A and B of q and v, and the head
    for name, grad in plain[1].items():
        torch.testing.assert_close(shared[1][name], grad, rtol=0, atol=1e-5, msg=name)
    assert shared[2] < plain[2]


def test_auto_shares_on_gpus_only():
    batch = pairs_batch()
    assert tiny_llama(True)[1].encoder.shared_prefix(batch["input_ids"], batch["attention_mask"]) is not None
    assert tiny_llama("auto")[1].encoder.shared_prefix(batch["input_ids"], batch["attention_mask"]) is None
