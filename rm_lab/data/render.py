"""(prompt, response) -> the text a backbone reads, one way for training, scoring and export.

`model.input_format` picks the rendering (`rm_lab.models.backbone.Backbone.input_format`):

- `pair`: the tokenizer's own text pair, `tokenizer(prompt, response)` (encoders:
  `[CLS] prompt [SEP] response [SEP]` with segment ids; GPT-2: the two texts joined).
- `chat`: the tokenizer's chat template over the prompt as the user turn(s) (`to_messages`) and
  the response as the final assistant turn, ending with the tokenizer's EOS token: whitespace
  the template leaves after its final EOS ("<|im_end|>\\n") is dropped, and EOS is appended
  where the template does not end with it (Gemma's "<end_of_turn>\\n" -> "...<eos>"), so
  last-token pooling reads EOS. The template writes its own special tokens (BOS included), so
  the text is tokenized with `add_special_tokens=False`.

Truncation keeps the end (the backbone's tokenizer has `truncation_side="left"`): the response
and its EOS survive, the start of the prompt (and of the template) is cut.

    ids = encode(tokenizer, prompts, responses, "chat", max_length=256)["input_ids"]
    text = render(tokenizer, prompt, response, "chat")      # the exact string that was tokenized
"""
from __future__ import annotations

import re

INPUT_FORMATS = ("pair", "chat")

# the HH-RLHF dialogue rendering, also used for OpenAssistant conversations
# ("\n\nHuman: ...\n\nAssistant: ...\n\nHuman: ...\n\nAssistant:")
_TURN = re.compile(r"(?:\A\s*|\n\n)(Human|Assistant):")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def check_format(tokenizer, input_format: str) -> None:
    """Fails with the valid choices, or when chat is asked of a tokenizer without a template."""
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"model.input_format must be one of {list(INPUT_FORMATS)}, got {input_format!r}")
    if input_format == "chat" and not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise ValueError(f"model.input_format=chat needs a tokenizer with a chat template, and the "
                         f"tokenizer of {name} has none: use model.input_format=pair")


def _merge(messages: list[dict]) -> list[dict]:
    """Consecutive turns of one role joined (chat templates want user/assistant alternating)."""
    out: list[dict] = []
    for message in messages:
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {"role": message["role"], "content": f"{out[-1]['content']}\n\n{message['content']}"}
        else:
            out.append(dict(message))
    return out


def to_messages(prompt: str) -> list[dict]:
    """An HH-RLHF/OpenAssistant dialogue prompt -> alternating user/assistant messages; the final
    empty "Assistant:" (the reply to come) and other empty turns are dropped, text before the
    first marker joins the first user turn. A prompt without those markers is one user turn."""
    marks = list(_TURN.finditer(prompt))
    if not any(m.group(1) == "Human" for m in marks):
        return [{"role": "user", "content": prompt.strip()}]
    messages = []
    head = prompt[: marks[0].start()].strip()
    if head:
        messages.append({"role": "user", "content": head})
    for mark, following in zip(marks, marks[1:] + [None]):
        text = prompt[mark.end(): following.start() if following else len(prompt)].strip()
        if text:
            messages.append({"role": _ROLES[mark.group(1)], "content": text})
    return _merge(messages) or [{"role": "user", "content": ""}]


def chat_text(tokenizer, prompt: str, response: str | None = None) -> str:
    """The chat rendering: prompt turns + the response as the assistant turn, ending with EOS;
    without a response, the prompt turns and the template's generation prompt (no EOS)."""
    check_format(tokenizer, "chat")
    messages = to_messages(prompt)
    if response is None:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    messages = _merge(messages + [{"role": "assistant", "content": response.strip()}])
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    eos = tokenizer.eos_token
    if eos:
        trimmed = text.rstrip()
        text = trimmed if trimmed.endswith(eos) else text + eos
    return text


def render(tokenizer, prompt: str, response: str, input_format: str) -> str | tuple[str, str]:
    """What the tokenizer is given: one string for chat, the (prompt, response) text pair for pair."""
    check_format(tokenizer, input_format)
    if input_format == "chat":
        return chat_text(tokenizer, prompt, response)
    return prompt, response


def encode(tokenizer, prompts: str | list[str], responses: str | list[str], input_format: str,
           max_length: int) -> dict:
    """Token ids of (prompt, response) (one or a batch): `input_ids`, `attention_mask` and, where
    the tokenizer gives them (pair format), `token_type_ids`. Truncated to max_length."""
    check_format(tokenizer, input_format)
    if input_format == "pair":
        return tokenizer(prompts, responses, truncation=True, max_length=max_length)
    if isinstance(prompts, str):
        text = chat_text(tokenizer, prompts, responses)
    else:
        text = [chat_text(tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
    return tokenizer(text, truncation=True, max_length=max_length, add_special_tokens=False)


def encode_prompt(tokenizer, prompts: str | list[str], input_format: str, max_length: int) -> dict:
    """Token ids of prompts alone (what routers read): pair, the prompt text as the tokenizer
    encodes one text; chat, the prompt's turns with the template's generation prompt."""
    check_format(tokenizer, input_format)
    if input_format == "pair":
        return tokenizer(prompts, truncation=True, max_length=max_length)
    text = chat_text(tokenizer, prompts) if isinstance(prompts, str) else [chat_text(tokenizer, p) for p in prompts]
    return tokenizer(text, truncation=True, max_length=max_length, add_special_tokens=False)
