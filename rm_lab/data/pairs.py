"""The one pair schema: prompt, chosen, rejected, domain and a stable id."""
from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)

PAIR_FIELDS = ("id", "domain", "prompt", "chosen", "rejected", "group", "source", "margin", "attributes")


class MalformedRow(ValueError):
    """A raw row that cannot become a pair; `reason` is a short counter key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Pair:
    """One preference pair. `group` is what splits keep together (the prompt unless the domain
    knows better: an SHP post, an OpenAssistant message tree, a HellaSwag source video);
    `source` names the file or hub subset it came from; `margin`, where the domain grades its
    preferences, is how strongly chosen beats rejected (HelpSteer2-Preference: |strength|, 1..3;
    None elsewhere), the reward gap of the margin loss (`method.use_margin`); `attributes`, where
    the domain rates each response (HelpSteer2's five attributes), is (the chosen response's
    ratings, the rejected one's), in the domain's attribute order (None elsewhere), what an
    attribute regression learns. None of these takes part in the pair's id."""

    id: str
    domain: str
    prompt: str
    chosen: str
    rejected: str
    group: str = field(default="", compare=False)
    source: str = field(default="", compare=False)
    margin: float | None = field(default=None, compare=False)
    attributes: tuple[tuple[float, ...], tuple[float, ...]] | None = field(default=None, compare=False)

    @property
    def split_key(self) -> str:
        return self.group or self.prompt

    def to_dict(self) -> dict:
        return asdict(self)

    def with_source(self, source: str) -> Pair:
        """This pair tagged with its source: every field copied as it is, `source` replaced
        (`dataclasses.replace` re-runs the constructor field by field: 8x the time, which counts
        at 300,000 rows)."""
        pair = object.__new__(Pair)
        pair.__dict__.update(self.__dict__, source=source)
        return pair

def stable_id(domain: str, *parts: str) -> str:
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{domain}:{digest}"


def require_text(row: dict, field: str, allow_empty: bool = False) -> str:
    """The value of a text field, or MalformedRow naming what is wrong."""
    if field not in row or row[field] is None:
        raise MalformedRow("missing_field", field)
    value = row[field]
    if not isinstance(value, str):
        raise MalformedRow("non_text_value", field)
    if not allow_empty and not value.strip():
        raise MalformedRow("empty_text", field)
    return value


def make_pair(domain: str, prompt: str, chosen: str, rejected: str, group: str = "",
              margin: float | None = None) -> Pair:
    """Validate the three texts and give the pair its content-derived id; `group` keeps pairs
    together in splits (default: the prompt); `margin`: the preference's strength, if graded."""
    for name, value in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str):
            raise MalformedRow("non_text_value", name)
        if not value.strip():
            raise MalformedRow("empty_text", name)
    if not isinstance(prompt, str):
        raise MalformedRow("non_text_value", "prompt")
    if chosen.strip() == rejected.strip():
        raise MalformedRow("chosen_equals_rejected")
    return Pair(stable_id(domain, prompt, chosen, rejected), domain, prompt, chosen, rejected, group=group,
                margin=None if margin is None else float(margin))


class DropLog:
    """Counts rows dropped, by reason, for one domain and split."""

    def __init__(self, domain: str, split: str):
        self.domain, self.split = domain, split
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def drop(self, reason: str, where: str = "") -> None:
        self.counts[reason] += 1
        self.examples.setdefault(reason, where)

    def report(self) -> None:
        for reason, n in sorted(self.counts.items()):
            log.warning(
                "%s/%s: dropped %d row(s): %s (first at %s)",
                self.domain, self.split, n, reason, self.examples.get(reason) or "?",
            )

    def to_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def bucket(key: str) -> float:
    """A stable number in [0, 1] for a key (a pair's group)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_of(key: str, which: tuple[str, ...], test_fraction: float, validation_fraction: float) -> str:
    """Deterministic split by a key (a pair's group) among `which`: the same key always lands in
    the same split, so pairs that share a prompt never straddle train, validation and test.
    Test takes the keys below `test_fraction`, validation the next `validation_fraction`."""
    b = bucket(key)
    if "test" in which and b < test_fraction:
        return "test"
    if "validation" in which and test_fraction <= b < test_fraction + validation_fraction:
        return "validation"
    return "train"


def sample_pairs(pairs: list[Pair], cap: int | None, seed: str) -> list[Pair]:
    """At most `cap` pairs drawn uniformly (seeded) from all of them, kept in their order, so a
    cap covers every file and subset of a domain instead of its first rows."""
    if not cap or len(pairs) <= cap:
        return list(pairs)
    keep = sorted(random.Random(seed).sample(range(len(pairs)), cap))
    return [pairs[i] for i in keep]
