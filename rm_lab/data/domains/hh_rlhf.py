"""Anthropic HH-RLHF (hub `Anthropic/hh-rlhf`): rows {chosen, rejected} of whole dialogues.

Each dialogue is split at its last "\\n\\nAssistant:"; the prompt is everything up to and
including that marker. Pairs whose prompts differ are dropped (`prompt_mismatch`), as are
pairs whose replies are equal.
"""
from __future__ import annotations

from rm_lab.data.domains.base import Domain
from rm_lab.data.pairs import MalformedRow, Pair, make_pair, require_text

MARKER = "\n\nAssistant:"


def split_dialogue(text: str) -> tuple[str, str]:
    cut = text.rfind(MARKER)
    if cut < 0:
        raise MalformedRow("no_assistant_turn")
    end = cut + len(MARKER)
    return text[:end], text[end:]


class HHRLHF(Domain):
    name = "hh_rlhf"

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        chosen_text = require_text(row, "chosen")
        rejected_text = require_text(row, "rejected")
        prompt, chosen = split_dialogue(chosen_text)
        rejected_prompt, rejected = split_dialogue(rejected_text)
        if prompt != rejected_prompt:
            raise MalformedRow("prompt_mismatch")
        return [make_pair(self.name, prompt, chosen, rejected)]
