"""Preference data in any of TRL's preference shapes, from local files or a hub id.

    python -m rm_lab dataset=preference dataset.domains.preference.path=prefs.jsonl
    python -m rm_lab dataset=preference dataset.domains.preference.hub.id=trl-lib/ultrafeedback_binarized

Each row is read in the shape it has (rows of one file may mix them):

- explicit prompt, text completions: {prompt: str, chosen: str, rejected: str}
- explicit prompt, conversational: {prompt: [messages], chosen: [messages], rejected: [messages]}
  (the completions are the assistant turn(s), as TRL's conversational preference rows)
- implicit prompt: {chosen: str, rejected: str}, two whole texts that share the prompt; split at
  their longest common prefix as TRL's `extract_prompt` does (a space just before the split goes
  with the completions)
- conversational, implicit prompt: {chosen: [messages], rejected: [messages]}, both conversations
  whole (user turns included); the prompt is the longest common run of messages

A message is {role, content} with a text content. A conversational prompt becomes the HH-RLHF
dialogue text ("\\n\\nHuman: ...\\n\\nAssistant:", `rm_lab.data.render.dialogue`; a system turn opens
it), and conversational completions their contents joined: pair-format models read those texts,
and with `model.input_format=chat` the backbone's chat template renders the same turns
(`rm_lab.data.render`), so a conversation reads as the template writes it. Rows that fit no shape
are counted by reason and skipped (missing_field, non_text_value, empty_text, mixed_shapes,
bad_message, no_shared_prompt, chosen_equals_rejected).

The domain's name (its rows in results.json, `val/accuracy/<name>`) is `name` when given, else
the stem of the first local file (prefs.jsonl.gz -> prefs), else "preference".
"""
from __future__ import annotations

from pathlib import Path

from rm_lab.data.domains.base import Domain
from rm_lab.data.pairs import MalformedRow, Pair, make_pair
from rm_lab.data.render import dialogue

DEFAULT_NAME = "preference"


def _stem(path) -> str:
    """prefs.jsonl.gz -> prefs; a folder keeps its name."""
    name = Path(path).name
    while Path(name).suffix in (".gz", ".jsonl", ".json", ".parquet", ".csv"):
        name = Path(name).stem
    return name


def _messages(value, field: str) -> list[dict]:
    """A message list with a text role and content in each message, else MalformedRow."""
    if not value:
        raise MalformedRow("empty_text", field)
    out = []
    for message in value:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) \
                or not isinstance(message.get("content"), str):
            raise MalformedRow("bad_message", field)
        out.append({"role": message["role"], "content": message["content"]})
    return out


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple))


def shared_prefix(chosen, rejected) -> int:
    """Where two texts (or message lists) part: TRL's `extract_prompt` cut, the length of their
    longest common prefix, one back when that prefix ends with a space (the space goes with the
    completions)."""
    cut = 0
    for a, b in zip(chosen, rejected):
        if a != b:
            break
        cut += 1
    if cut and isinstance(chosen, str) and chosen[cut - 1] == " ":
        cut -= 1
    return cut


def _completion(messages: list[dict]) -> str:
    return "\n\n".join(m["content"] for m in messages)


class Preference(Domain):
    """Every TRL preference shape (module docstring) from `path` or `hub`."""

    name = DEFAULT_NAME

    def __init__(self, name: str | None = None, path=None, hub: dict | None = None, **kwargs):
        if not name and path:
            first = path if isinstance(path, (str, Path)) else list(path)[0]
            name = _stem(first)
        hub = hub if hub and hub.get("id") else None  # hub.id unset: no hub source
        super().__init__(name=name or DEFAULT_NAME, path=path, hub=hub,
                         absent_reason="no source: set dataset.domains.preference.path=FILE or "
                                       "dataset.domains.preference.hub.id=HUB_ID", **kwargs)

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        for field in ("chosen", "rejected"):
            if row.get(field) is None:
                raise MalformedRow("missing_field", field)
            if not isinstance(row[field], str) and not _is_list(row[field]):
                raise MalformedRow("non_text_value", field)
        chosen, rejected = row["chosen"], row["rejected"]
        if _is_list(chosen) != _is_list(rejected):
            raise MalformedRow("mixed_shapes", "chosen and rejected: one text, one message list")
        if chosen == rejected:
            raise MalformedRow("chosen_equals_rejected")
        prompt = row.get("prompt")
        if prompt is None:
            return [self._implicit(chosen, rejected)]
        if not isinstance(prompt, str) and not _is_list(prompt):
            raise MalformedRow("non_text_value", "prompt")
        if _is_list(prompt):
            prompt = dialogue(_messages(prompt, "prompt"))
        elif not prompt.strip():
            raise MalformedRow("empty_text", "prompt")
        if _is_list(chosen):
            chosen, rejected = _completion(_messages(chosen, "chosen")), _completion(_messages(rejected, "rejected"))
        return [make_pair(self.name, prompt, chosen, rejected)]

    def _implicit(self, chosen, rejected) -> Pair:
        """A pair from two whole texts or conversations that share their prompt."""
        if _is_list(chosen):
            chosen, rejected = _messages(chosen, "chosen"), _messages(rejected, "rejected")
            cut = shared_prefix(chosen, rejected)
            if not cut:
                raise MalformedRow("no_shared_prompt", "the conversations part at their first message")
            if cut == len(chosen) or cut == len(rejected):
                raise MalformedRow("empty_text", "one conversation holds the other whole")
            return make_pair(self.name, dialogue(chosen[:cut]), _completion(chosen[cut:]),
                             _completion(rejected[cut:]))
        cut = shared_prefix(chosen, rejected)
        prompt = chosen[:cut]
        # no shared text: an empty prompt (as TRL gives), split by the pair's texts instead
        return make_pair(self.name, prompt, chosen[cut:], rejected[cut:],
                         group="" if prompt.strip() else f"{chosen}\x1f{rejected}")
