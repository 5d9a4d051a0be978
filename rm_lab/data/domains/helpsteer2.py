"""HelpSteer2 (hub `nvidia/HelpSteer2`): preference pairs, and responses rated on five attributes.

`HelpSteer2Preference` (data_dir `preference`, `dataset=helpsteer2_pref`) gives training pairs.
`HelpSteer2Attributes` (the default data, `dataset=helpsteer2_attributes`) gives pairs of
responses to one prompt that carry each response's attribute ratings (`Pair.attributes`), what an
attribute regression (`method=attribute_regression`) learns.

HelpSteer2-Preference:

Hub rows: {split, prompt, response_1, response_2, preference_strength, preference_statement,
preference_elaboration, ...}. `preference_strength` runs from -3 (response 1 much better) to
+3 (response 2 much better); 0 (no preference) and strengths below `min_strength` are dropped
and counted. The hub puts train and validation rows in one table and marks them in the `split`
column ("train", "val"); rows are routed by it (validation -> test). Rows without it are split
by group (prompt) like the other domains. Each pair carries its |preference_strength| (1..3) as
its `margin`, the reward gap the margin loss asks for (`method.use_margin=true`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from rm_lab.data.domains.base import Domain, DomainSplits
from rm_lab.data.pairs import DropLog, MalformedRow, Pair, make_pair, require_text

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


ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")  # the hub's order
RATING_RANGE = (0.0, 4.0)  # HelpSteer2's Likert-5 ratings


class HelpSteer2Attributes(Domain):
    """HelpSteer2's rated responses (hub rows {prompt, response, helpfulness, correctness,
    coherence, complexity, verbosity}, ratings 0..4, the responses to one prompt on consecutive
    rows) -> pairs of responses to the same prompt, each pair carrying both responses' ratings in
    `attributes` order.

    Which response of two is chosen: the one with the higher `prefer_by` score, a weighted sum of
    its ratings (default {helpfulness: 1}: the more helpful response, as HelpSteer2 ranks
    responses); pairs whose scores are equal are dropped and counted (`tied_preference`), and each
    pair's margin is the score gap. A row with a missing or out-of-range rating is dropped and
    counted, the prompt's other responses still pair; a prompt left with one response counts its
    row as `single_response`. Splits are by prompt; the hub's `validation` split is the test split
    and validation is cut from train by prompt (conf/domain/helpsteer2_attributes.yaml).
    """

    name = "helpsteer2_attributes"

    def __init__(self, attributes: Iterable[str] = ATTRIBUTES, prefer_by: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.attributes = tuple(attributes)
        unknown = [a for a in self.attributes if a not in ATTRIBUTES]
        if not self.attributes or unknown or len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"{self.name}: attributes must be distinct names among {list(ATTRIBUTES)}, "
                             f"got {list(self.attributes)}")
        prefer_by = dict(prefer_by or {"helpfulness": 1.0})
        bad = [a for a in prefer_by if a not in self.attributes]
        if bad or not prefer_by:
            raise ValueError(f"{self.name}: prefer_by weighs attributes among {list(self.attributes)}, got "
                             f"{sorted(prefer_by)}; e.g. prefer_by={{helpfulness: 1.0}}")
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in prefer_by.values()) \
                or not any(prefer_by.values()):
            raise ValueError(f"{self.name}: prefer_by weights must be numbers, not all 0; got {prefer_by}")
        self.prefer_by = {a: float(w) for a, w in prefer_by.items()}

    def ratings(self, row: dict) -> tuple[float, ...]:
        """The row's ratings in `attributes` order, or MalformedRow naming the bad one."""
        out = []
        for name in self.attributes:
            value = row.get(name)
            if value is None:
                raise MalformedRow("missing_field", name)
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise MalformedRow("bad_label", f"{name}={value!r}") from None
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
                raise MalformedRow("bad_label", f"{name}={value!r}")
            out.append(float(value))
        return tuple(out)

    def preference(self, ratings: tuple[float, ...]) -> float:
        return sum(self.prefer_by.get(a, 0.0) * r for a, r in zip(self.attributes, ratings))

    def convert(self, rows: Iterable[dict], drops: DropLog) -> Iterator[Pair]:
        """Consecutive rows with one prompt make a group; every two responses of a group a pair."""
        group: list[tuple[int, str, tuple[float, ...]]] = []
        prompt = None
        for index, row in enumerate(rows):
            try:
                text = require_text(row, "prompt")
                response = require_text(row, "response")
                ratings = self.ratings(row)
            except MalformedRow as bad:
                drops.drop(bad.reason, f"row {index}")
                continue
            if text != prompt:
                yield from self._group_pairs(prompt, group, drops)
                prompt, group = text, []
            group.append((index, response, ratings))
        yield from self._group_pairs(prompt, group, drops)

    def _group_pairs(self, prompt: str | None, group: list, drops: DropLog) -> Iterator[Pair]:
        if len(group) == 1:
            drops.drop("single_response", f"row {group[0][0]}")
            return
        for i, (first_index, first, first_ratings) in enumerate(group):
            for second_index, second, second_ratings in group[i + 1:]:
                gap = self.preference(first_ratings) - self.preference(second_ratings)
                if abs(gap) < 1e-9:
                    drops.drop("tied_preference", f"rows {first_index}, {second_index}")
                    continue
                (chosen, chosen_ratings), (rejected, rejected_ratings) = sorted(
                    [(first, first_ratings), (second, second_ratings)], key=lambda r: -self.preference(r[1]))
                try:
                    pair = make_pair(self.name, prompt, chosen, rejected, margin=round(abs(gap), 9))
                except MalformedRow as bad:
                    drops.drop(bad.reason, f"rows {first_index}, {second_index}")
                    continue
                yield replace(pair, attributes=(chosen_ratings, rejected_ratings))
