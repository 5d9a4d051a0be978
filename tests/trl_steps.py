"""TRL's reward-model path, step by step, as TRL 1.16.0 runs it (copied, so the tests need no TRL).

`load_reward_model` is what `GRPOTrainer.__init__` (trl/trainer/grpo_trainer.py, and RLOOTrainer's
alike) does with `reward_funcs=PATH`: `AutoModelForSequenceClassification.from_pretrained(PATH,
num_labels=1)`, its tokenizer from the config's `_name_or_path`, the pad token set to EOS where the
tokenizer has none, and the config's pad_token_id set to the tokenizer's. `rewards` is the
`isinstance(reward_func, nn.Module)` branch of `GRPOTrainer._calculate_rewards`: conversational
prompts (`trl.data_utils.is_conversational`) are rendered with `trl.data_utils.apply_chat_template`
({"messages": prompt + completion} -> `tokenizer.apply_chat_template(messages, tokenize=False)`),
standard ones joined as prompt + completion; then `tokenizer(text=texts, return_tensors="pt",
padding=True, padding_side="right", add_special_tokens=False)` (no truncation) and
`model(**inputs).logits[:, 0]` under `torch.inference_mode()`.
"""
from __future__ import annotations

import torch

TRL_VERSION = "1.16.0"


def load_reward_model(path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(model.config._name_or_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer


def is_conversational(prompt) -> bool:
    return isinstance(prompt, list) and isinstance(prompt[0], dict) and "role" in prompt[0]


def reward_texts(tokenizer, prompts: list, completions: list) -> list[str]:
    if is_conversational(prompts[0]):
        return [tokenizer.apply_chat_template(p + c, tokenize=False) for p, c in zip(prompts, completions, strict=True)]
    return [p + c for p, c in zip(prompts, completions, strict=True)]


def rewards(model, tokenizer, prompts: list, completions: list) -> list[float]:
    inputs = tokenizer(text=reward_texts(tokenizer, prompts, completions), return_tensors="pt", padding=True,
                       padding_side="right", add_special_tokens=False)
    with torch.inference_mode():
        return model(**inputs).logits[:, 0].tolist()
