"""HelpSteer2-Preference (hub `nvidia/HelpSteer2`, data_dir `preference`): training pairs.

Hub rows: {split, prompt, response_1, response_2, preference_strength, preference_statement,
preference_elaboration, ...}. `preference_strength` runs from -3 (response 1 much better) to
+3 (response 2 much better); 0 (no preference) and strengths below `min_strength` are dropped
and counted. The hub puts train and validation rows in one table and marks them in the `split`
column ("train", "val"); rows are routed by it (validation -> test). Rows without it are split
by group (prompt) like the other domains. Each pair carries its |preference_strength| (1..3) as
its `margin`, the reward gap the margin loss asks for (`method.use_margin=true`).
"""
from __future__ import annotations

from rm_lab.data.domains.base import Domain, DomainSplits
from rm_lab.data.pairs import MalformedRow, Pair, make_pair, require_text

TRAIN_NAMES = {"train"}
TEST_NAMES = {"val", "validation", "test"}


class HelpSteer2Preference(Domain):
    name = "helpsteer2"

    def __init__(self, min_strength: int = 1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(min_strength, int) or min_strength < 1:
            raise ValueError(f"{self.name}: min_strength must be an integer >= 1, got {min_strength!r}")
        self.min_strength = min_strength
        self._row_split: dict[str, str] = {}

    @staticmethod
    def _strength(row: dict) -> int:
        value = row.get("preference_strength")
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is None:
            raise MalformedRow("missing_field", "preference_strength")
        if isinstance(value, bool) or not isinstance(value, int) or not -3 <= value <= 3:
            raise MalformedRow("bad_label", repr(value))
        return value

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        prompt = require_text(row, "prompt")
        first = require_text(row, "response_1")
        second = require_text(row, "response_2")
        strength = self._strength(row)
        if strength == 0:
            raise MalformedRow("no_preference")
        if abs(strength) < self.min_strength:
            raise MalformedRow("weak_preference", str(strength))
        chosen, rejected = (first, second) if strength < 0 else (second, first)
        pair = make_pair(self.name, prompt, chosen, rejected, margin=abs(strength))
        split = row.get("split")
        if isinstance(split, str) and split.strip():
            split = split.strip().lower()
            if split not in TRAIN_NAMES | TEST_NAMES:
                raise MalformedRow("bad_split", split)
            self._row_split[pair.id] = "test" if split in TEST_NAMES else "train"
        return [pair]

    def _hash_split(self, pairs: list[Pair], result: DomainSplits, which: tuple[str, ...]) -> None:
        """The row's own `split` column when it has one (its train rows give validation by
        group), else the split by group (prompt)."""
        routed: dict[str, list[Pair]] = {split: [] for split in which}
        for pair in pairs:
            split = self._row_split.get(pair.id)
            if split == "train":
                split = self.split_of(pair, ("train", "validation"))
            elif split is None:
                split = self.split_of(pair, which)
            routed[split].append(pair)
        result.pairs.update(routed)

    def load(self) -> DomainSplits:
        self._row_split = {}
        return super().load()
