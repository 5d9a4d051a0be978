"""HellaSwag (hub `Rowan/hellaswag`): prompt = `ctx`, chosen = the labelled ending,
rejected = one wrong ending drawn by a generator seeded with the row's identity, so the same
row gives the same pair on every run. `label` may be an int or a string ("" on the test split).
Rows cut from one source video (`source_id`) stay on one side of a split.
"""
from __future__ import annotations

import random

from rm_lab.data.domains.base import Domain
from rm_lab.data.pairs import MalformedRow, Pair, make_pair, require_text


class HellaSwag(Domain):
    name = "hellaswag"

    def __init__(self, prefix_activity: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.prefix_activity = prefix_activity

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        ctx = require_text(row, "ctx")
        endings = row.get("endings")
        if not isinstance(endings, (list, tuple)) or len(endings) < 2:
            raise MalformedRow("bad_endings")
        if not all(isinstance(e, str) and e.strip() for e in endings):
            raise MalformedRow("empty_text", "endings")
        label = row.get("label")
        if isinstance(label, str):
            label = int(label) if label.strip().isdigit() else None
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(endings):
            raise MalformedRow("missing_label" if label in (None, "") else "bad_label", repr(row.get("label")))
        key = row.get("ind", row.get("source_id", ctx))
        rng = random.Random(f"{self.seed}:{key}:{ctx}")
        wrong = rng.choice([j for j in range(len(endings)) if j != label])
        prompt = ctx
        if self.prefix_activity and row.get("activity_label"):
            prompt = f"{row['activity_label']}: {ctx}"
        source = row.get("source_id")
        return [make_pair(self.name, prompt, endings[label], endings[wrong],
                          group=f"video:{source}" if source else "")]
