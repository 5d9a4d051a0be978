"""RewardBench (hub `allenai/reward-bench`, split `filtered`): an evaluation set.

Hub rows: {prompt, chosen, chosen_model, rejected, rejected_model, subset, id}. One domain
per RewardBench subset (the domain's `subset`, by default its name), so per-domain accuracy
is per-subset accuracy and `rm_lab.eval.rewardbench` can weight subsets into the four
sections the way RewardBench does. Rows of other subsets are skipped (they belong to the
sibling domains); every pair goes to the test split, none to train.
"""
from __future__ import annotations

from rm_lab.data.domains.base import Domain, DomainSplits
from rm_lab.data.pairs import MalformedRow, Pair, make_pair, require_text
from rm_lab.hub import HubUnavailable

# RewardBench's four sections and their subsets (rewardbench.constants.SUBSET_MAPPING).
SECTIONS: dict[str, tuple[str, ...]] = {
    "Chat": ("alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"),
    "Chat Hard": ("mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
                  "llmbar-adver-GPTOut", "llmbar-adver-manual"),
    "Safety": ("refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond",
               "donotanswer"),
    "Reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}
SUBSETS: tuple[str, ...] = tuple(s for subsets in SECTIONS.values() for s in subsets)
SECTION_OF: dict[str, str] = {s: section for section, subsets in SECTIONS.items() for s in subsets}


class RewardBench(Domain):
    name = "rewardbench"

    def __init__(self, subset: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.subset = subset or self.name
        if self.subset not in SECTION_OF:
            raise ValueError(f"RewardBench domain {self.name!r}: unknown subset {self.subset!r}; "
                             f"valid: {', '.join(SUBSETS)}")

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        subset = row.get("subset")
        if not isinstance(subset, str) or not subset:
            raise MalformedRow("missing_field", "subset")
        if subset != self.subset:
            return []  # a sibling domain's row
        return [make_pair(self.name, require_text(row, "prompt"), require_text(row, "chosen"),
                          require_text(row, "rejected"))]

    def _hash_split(self, pairs: list[Pair], result: DomainSplits, which: tuple[str, ...]) -> None:
        """An evaluation set: every pair is a test pair, whatever the source."""
        result.pairs["train"] = []
        result.pairs["test"] = pairs

    def load(self) -> DomainSplits:
        try:
            result = super().load()
        except HubUnavailable as err:
            raise HubUnavailable(f"{err} One local copy of RewardBench's filtered split (hub schema) "
                                 "feeds every subset: +rewardbench_path=/path/to/filtered.jsonl") from None
        result.pairs.setdefault("train", [])
        result.pairs.setdefault("test", [])
        return result
