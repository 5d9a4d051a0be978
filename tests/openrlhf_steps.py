"""OpenRLHF's reward-model loading and its reward server's tokenization, step by step, as openrlhf
0.11.2 does them (copied, so the tests need no OpenRLHF, DeepSpeed or flash-attention).

`get_llm_for_sequence_regression(PATH, "reward", ...)` follows `openrlhf/models/model.py`: the
config from PATH with `normalize_reward` and `_attn_implementation` set, `value_head_prefix` taken
from the config where it names one, the base model class `AutoModel._model_mapping[type(config)]`
under its PreTrainedModel parent, a `RewardModel` holding the base model under `base_model_prefix`
and a bias-free `nn.Linear(hidden_size, 1)` under the value head prefix, the `mean`/`std` buffers
read from `config.mean`/`config.std`, loaded with `from_pretrained(PATH, config=config,
torch_dtype=...)`; its forward reads the value head at the last position the attention mask keeps
(position ids from the mask's cumulative sum) and returns `(reward - mean) / std` in eval mode when
normalize_reward is set. (No LoRA, 4-bit, ZeRO-3 or sample packing, which a reward server leaves
off.) `param_dtype` is "bf16" or "fp16" as in OpenRLHF; `torch_dtype` (not OpenRLHF's) overrides
it so a test can compare in fp32. `tokenize` is `openrlhf/cli/serve_rm.py`'s
`RewardModelProxy.tokenize_fn` with the tokenizer of `openrlhf.utils.get_tokenizer(..., "left")`.
"""
from __future__ import annotations

import torch
from torch import nn

OPENRLHF_VERSION = "0.11.2"
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def get_llm_for_sequence_regression(model_name_or_path, model_type, *, param_dtype="bf16", normalize_reward=False,
                                    attn_implementation="flash_attention_2", value_head_prefix="score",
                                    torch_dtype=None, **kwargs):
    from transformers import AutoConfig, AutoModel

    assert model_type == "reward", "only the reward model is copied here"
    config = AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=True)
    config.normalize_reward = normalize_reward
    config._attn_implementation = attn_implementation
    value_head_prefix = getattr(config, "value_head_prefix", value_head_prefix)
    base_class = AutoModel._model_mapping[type(config)]
    cls_class = _get_reward_model(base_class.__base__, base_class, value_head_prefix)
    if torch_dtype is None:
        torch_dtype = DTYPES[param_dtype]
    model = cls_class.from_pretrained(model_name_or_path, config=config, trust_remote_code=True,
                                      torch_dtype=torch_dtype, **kwargs)
    model.config.use_cache = False
    return model


def _get_reward_model(base_pretrained_model, base_llm_model, value_head_prefix="score"):
    class RewardModel(base_pretrained_model):
        supports_gradient_checkpointing = True

        def __init__(self, config):
            super().__init__(config)
            setattr(self, self.base_model_prefix, base_llm_model(config))
            self.value_head_prefix = value_head_prefix
            setattr(self, value_head_prefix, nn.Linear(config.hidden_size, 1, bias=False))
            self.normalize_reward = config.normalize_reward
            self.register_buffer("mean", torch.zeros(1), persistent=False)
            self.register_buffer("std", torch.ones(1), persistent=False)
            if hasattr(config, "mean"):
                self.mean[0] = config.mean
                self.std[0] = config.std
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, return_output=False):
            eos_indices = attention_mask.size(1) - 1 - attention_mask.long().fliplr().argmax(dim=1, keepdim=True)
            position_ids = attention_mask.long().cumsum(-1) - 1
            position_ids.masked_fill_(attention_mask == 0, 1)
            outputs = getattr(self, self.base_model_prefix)(input_ids, attention_mask=attention_mask,
                                                            position_ids=position_ids)
            values = getattr(self, self.value_head_prefix)(outputs["last_hidden_state"]).squeeze(-1)
            reward = values.gather(dim=1, index=eos_indices).squeeze(1)
            if not self.training and self.normalize_reward:
                reward = (reward - self.mean) / self.std
            return (reward, outputs) if return_output else reward

    return RewardModel


def get_tokenizer(pretrain, padding_side="left"):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(pretrain, trust_remote_code=True, use_fast=True)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        tokenizer.pad_token_id = tokenizer.eos_token_id
    return tokenizer


def tokenize(tokenizer, texts, max_length):
    return tokenizer(texts, return_tensors="pt", add_special_tokens=False, max_length=max_length, padding=True,
                     truncation=True)
