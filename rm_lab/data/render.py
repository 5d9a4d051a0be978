"""(prompt, response) -> the text a backbone reads, one way for training, scoring and export.

`model.input_format` picks the rendering (`rm_lab.models.backbone.Backbone.input_format`):

- `pair`: the tokenizer's own text pair, `tokenizer(prompt, response)` (encoders:
  `[CLS] prompt [SEP] response [SEP]` with segment ids; GPT-2: the two texts joined).
- `chat`: the tokenizer's chat template over the prompt as the user turn(s) (`to_messages`; a
  prompt given as chat messages is taken as it is) and the response as the final assistant
  turn, as given (never stripped: what a converter normalises stays in the converter), ending
  with the tokenizer's EOS token (`end_at_eos`): whitespace the template leaves after its final
  EOS ("<|im_end|>\\n") is dropped, and EOS is appended where the template does not end with it
  (Gemma's "<end_of_turn>\\n" -> "...<eos>"), so last-token pooling reads EOS. The template
  writes its own special tokens (BOS included), so the text is tokenized with
  `add_special_tokens=False`. `reward_template` rewrites a chat template so that its own text
  ends that way: an export ships it, and a trainer that renders conversations with the exported
  tokenizer (TRL's reward path) feeds the model the run's text.

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


def end_at_eos(text: str, eos: str | None) -> str:
    """A rendered conversation ending with EOS, the token the reward reads: whitespace after a
    final EOS dropped, EOS appended where the text does not end with it."""
    if not eos:
        return text
    trimmed = text.rstrip()
    return trimmed if trimmed.endswith(eos) else text + eos


# Jinja that wraps a chat template so that a conversation ending with an assistant turn (and no
# generation prompt) ends as `end_at_eos` ends it; every other rendering is the template's own.
_REWARD_TEMPLATE = (
    "{%- set rendered -%}TEMPLATE{%- endset -%}"
    "{%- set trimmed = rendered.rstrip() -%}"
    "{%- if add_generation_prompt or not messages or messages[-1]['role'] != 'assistant' "
    "or eos_token is not defined or not eos_token -%}{{ rendered }}"
    "{%- elif trimmed.endswith(eos_token) -%}{{ trimmed }}"
    "{%- else -%}{{ rendered ~ eos_token }}{%- endif -%}")
_REWARD_MARK = "{%- set trimmed = rendered.rstrip() -%}"


def reward_template(template: str | dict) -> str | dict:
    """A chat template whose text of a finished conversation ends where the reward is read
    (`end_at_eos`), the same text `chat_text` gives; the generation prompt and other renderings
    are unchanged. Applied once (a wrapped template is returned as it is); a dict of named
    templates is wrapped name by name."""
    if isinstance(template, dict):
        return {name: reward_template(t) for name, t in template.items()}
    if _REWARD_MARK in template:
        return template
    return _REWARD_TEMPLATE.replace("TEMPLATE", template, 1)


def _is_messages(value) -> bool:
    return isinstance(value, (list, tuple))


def conversation(prompt: str | list[dict], response: str | list[dict] | None = None) -> list[dict]:
    """The chat messages of a prompt and its response. A prompt text is an HH-RLHF/OpenAssistant
    dialogue or a plain prompt (`to_messages`), and the response joins it as the assistant turn
    (turns of one role merged); a prompt given as messages is taken as it is, and the response
    (a text, or messages such as TRL's conversational completions) follows it unmerged, as
    `prompt + completion`. Responses are never stripped."""
    if response is None:
        return [dict(m) for m in prompt] if _is_messages(prompt) else to_messages(prompt)
    reply = [dict(m) for m in response] if _is_messages(response) else [{"role": "assistant", "content": response}]
    if _is_messages(prompt):
        return [dict(m) for m in prompt] + reply
    return _merge(to_messages(prompt) + reply)


def chat_text(tokenizer, prompt: str | list[dict], response: str | list[dict] | None = None) -> str:
    """The chat rendering: prompt turns + the response as the assistant turn, ending with EOS
    (`end_at_eos`); without a response, the prompt turns and the template's generation prompt."""
    check_format(tokenizer, "chat")
    messages = conversation(prompt, response)
    if response is None:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return end_at_eos(tokenizer.apply_chat_template(messages, tokenize=False), tokenizer.eos_token)


_MARKS = {"user": "Human", "assistant": "Assistant"}


def _content(message: dict) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise ValueError(f"a chat message needs a text 'content' for a pair-format model, got {message!r}")
    return content


def dialogue(messages: list[dict]) -> str:
    """Chat messages as the HH-RLHF dialogue text that pair-format models read as a prompt
    ("\\n\\nHuman: ...\\n\\nAssistant: ...\\n\\nHuman: ...\\n\\nAssistant:"; a system message opens it)."""
    parts = [_content(m) if m.get("role") == "system" else f"\n\n{_MARKS.get(m.get('role'), m.get('role'))}: "
             f"{_content(m)}" for m in messages]
    ends_open = not messages or messages[-1].get("role") != "assistant"
    return "".join(parts) + ("\n\nAssistant:" if ends_open else "")


def pair_texts(prompt: str | list[dict], response: str | list[dict]) -> tuple[str, str]:
    """(prompt, response) as the two texts of the pair format: texts as they are; a prompt given
    as chat messages as its `dialogue`, a response given as messages as their contents joined."""
    if _is_messages(prompt):
        prompt = dialogue(prompt)
    if _is_messages(response):
        response = "\n\n".join(_content(m) for m in response)
    return prompt, response


def render(tokenizer, prompt: str | list[dict], response: str | list[dict], input_format: str) -> str | tuple[str, str]:
    """What the tokenizer is given: one string for chat, the (prompt, response) text pair for pair."""
    check_format(tokenizer, input_format)
    if input_format == "chat":
        return chat_text(tokenizer, prompt, response)
    return pair_texts(prompt, response)


def _one(value) -> bool:
    """Whether `value` is one prompt or response (a text, or a list of chat messages) rather than a batch."""
    return isinstance(value, str) or (_is_messages(value) and bool(value) and isinstance(value[0], dict))


def encode(tokenizer, prompts, responses, input_format: str, max_length: int) -> dict:
    """Token ids of (prompt, response) (one or a batch; each a text or chat messages, see
    `render`): `input_ids`, `attention_mask` and, where the tokenizer gives them (pair format),
    `token_type_ids`. Truncated to max_length."""
    check_format(tokenizer, input_format)
    single = _one(prompts)
    rows = [(prompts, responses)] if single else list(zip(prompts, responses, strict=True))
    if input_format == "pair":
        texts = [pair_texts(p, r) for p, r in rows]
        if single:
            return tokenizer(texts[0][0], texts[0][1], truncation=True, max_length=max_length)
        return tokenizer([p for p, _ in texts], [r for _, r in texts], truncation=True, max_length=max_length)
    text = [chat_text(tokenizer, p, r) for p, r in rows]
    return tokenizer(text[0] if single else text, truncation=True, max_length=max_length, add_special_tokens=False)


def encode_prompt(tokenizer, prompts, input_format: str, max_length: int) -> dict:
    """Token ids of prompts alone (what routers read): pair, the prompt text (a prompt given as
    messages: its `dialogue`) as the tokenizer encodes one text; chat, the prompt's turns with the
    template's generation prompt."""
    check_format(tokenizer, input_format)
    single = _one(prompts)
    batch = [prompts] if single else list(prompts)
    if input_format == "pair":
        text = [dialogue(p) if _is_messages(p) else p for p in batch]
        return tokenizer(text[0] if single else text, truncation=True, max_length=max_length)
    text = [chat_text(tokenizer, p) for p in batch]
    return tokenizer(text[0] if single else text, truncation=True, max_length=max_length, add_special_tokens=False)


def encode_rendered(tokenizer, texts: list[str], max_length: int) -> dict:
    """Token ids of whole conversations already in the chat template's text (what an RLHF trainer
    sends a remote reward model), each ending at EOS (`end_at_eos`), truncated from the left as
    the run's inputs are, without special tokens added (the template wrote them)."""
    check_format(tokenizer, "chat")
    text = [end_at_eos(t, tokenizer.eos_token) for t in texts]
    return tokenizer(text, truncation=True, max_length=max_length, add_special_tokens=False)
