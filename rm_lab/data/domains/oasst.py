"""OpenAssistant (hub `OpenAssistant/oasst2`, English only).

Reads both layouts: the hub's flat message table (one row per message, linked by
`parent_id`) and the nested message-tree export (`{"message_tree_id", "prompt": Node}` with
`replies`). For every prompter message with two or more ranked assistant replies:
prompt = the conversation up to it (rendered as HH-RLHF renders dialogues), chosen = the
best-ranked reply, rejected = each other reply; with `all_ranked_pairs` every pair of
differently ranked replies. Deleted, synthetic and non-English messages are skipped with
their subtrees and counted. All pairs of one message tree stay on one side of a split.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from rm_lab.data.domains.base import Domain
from rm_lab.data.pairs import DropLog, MalformedRow, Pair, make_pair

ROLES = {"prompter": "Human", "assistant": "Assistant"}


def _flatten_tree(node: dict, parent_id, out: list[dict]) -> None:
    message = {k: v for k, v in node.items() if k != "replies"}
    message.setdefault("parent_id", parent_id)
    out.append(message)
    for reply in node.get("replies") or []:
        if isinstance(reply, dict):
            _flatten_tree(reply, message.get("message_id"), out)


class OpenAssistant(Domain):
    name = "oasst"

    def __init__(self, lang: str = "en", all_ranked_pairs: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.lang = lang
        self.all_ranked_pairs = all_ranked_pairs

    def _messages(self, rows: Iterable[dict], drops: DropLog) -> Iterator[dict]:
        for index, row in enumerate(rows):
            if isinstance(row.get("prompt"), dict) and "message_tree_id" in row:
                flat: list[dict] = []
                _flatten_tree(row["prompt"], None, flat)
                yield from flat
            elif "message_id" in row:
                yield row
            else:
                drops.drop("not_a_message_or_tree", f"row {index}")

    def _skip_reason(self, message: dict) -> str | None:
        if message.get("deleted"):
            return "deleted_message"
        if message.get("synthetic"):
            return "synthetic_message"
        if self.lang and message.get("lang") != self.lang:
            return "not_english" if self.lang == "en" else "other_language"
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            return "empty_text"
        if message.get("role") not in ROLES:
            return "bad_role"
        return None

    def convert(self, rows: Iterable[dict], drops: DropLog) -> Iterator[Pair]:
        children: dict[object, list[dict]] = defaultdict(list)
        roots = []
        for message in self._messages(rows, drops):
            if not message.get("message_id"):
                drops.drop("missing_field", "message_id")
                continue
            parent = message.get("parent_id")
            (children[parent] if parent else roots).append(message)
        stack = [(root, (), f"tree:{root['message_id']}") for root in reversed(roots)]
        while stack:
            message, history, tree = stack.pop()
            reason = self._skip_reason(message)
            if reason:
                drops.drop(reason, str(message.get("message_id")))
                continue
            turn = f"\n\n{ROLES[message['role']]}: {message['text']}"
            path = history + (turn,)
            replies = children.get(message["message_id"], [])
            if message["role"] == "prompter":
                yield from self._ranked_pairs("".join(path), replies, drops, tree)
            for reply in reversed(replies):
                stack.append((reply, path, tree))

    def _ranked_pairs(self, prompt_path: str, replies: list[dict], drops: DropLog, tree: str = "") -> Iterator[Pair]:
        ranked = [r for r in replies if r.get("role") == "assistant" and self._skip_reason(r) is None
                  and isinstance(r.get("rank"), int) and not isinstance(r.get("rank"), bool)]
        if len(ranked) < 2:
            return
        ranked.sort(key=lambda r: r["rank"])
        prompt = prompt_path + "\n\nAssistant:"
        if self.all_ranked_pairs:
            combos = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1:]]
        else:
            combos = [(ranked[0], b) for b in ranked[1:]]
        for better, worse in combos:
            if better["rank"] == worse["rank"]:
                drops.drop("equal_rank", str(worse.get("message_id")))
                continue
            try:
                yield make_pair(self.name, prompt, " " + better["text"], " " + worse["text"], group=tree)
            except MalformedRow as bad:
                drops.drop(bad.reason, str(worse.get("message_id")))
