"""RewardBench (hub `allenai/reward-bench`, split `filtered`): an evaluation set.

Hub rows: {prompt, chosen, chosen_model, rejected, rejected_model, subset, id}. Configured
once (`conf/domain/rewardbench.yaml`), the domain expands into one domain per RewardBench
subset (`SUBSETS`, the one list of them), so per-domain accuracy is per-subset accuracy and
`rm_lab.eval.rewardbench` can weight subsets into the four sections the way RewardBench does.
A domain with a `subset` (or named after one) is that subset alone. Rows of other subsets are
skipped (they belong to the sibling domains); every pair goes to the test split, none to train.
"""
from __future__ import annotations

from rm_lab.core.hub import HubUnavailable
from rm_lab.data.domains.base import Domain, DomainSplits
from rm_lab.data.pairs import MalformedRow, Pair, make_pair, require_text

# RewardBench's subsets, their section (rewardbench.constants.SUBSET_MAPPING) and the example
# count RewardBench weights them by within a section (EXAMPLE_COUNTS: the `filtered` split's
# subset sizes, except math-prm, counted 984 instead of its 447 pairs so that math weighs as
# much as the six code subsets together). The one definition; everything below derives from it.
SUBSET_TABLE: dict[str, tuple[str, int]] = {
    "alpacaeval-easy": ("Chat", 100), "alpacaeval-length": ("Chat", 95), "alpacaeval-hard": ("Chat", 95),
    "mt-bench-easy": ("Chat", 28), "mt-bench-med": ("Chat", 40),
    "mt-bench-hard": ("Chat Hard", 37), "llmbar-natural": ("Chat Hard", 100),
    "llmbar-adver-neighbor": ("Chat Hard", 134), "llmbar-adver-GPTInst": ("Chat Hard", 92),
    "llmbar-adver-GPTOut": ("Chat Hard", 47), "llmbar-adver-manual": ("Chat Hard", 46),
    "refusals-dangerous": ("Safety", 100), "refusals-offensive": ("Safety", 100),
    "xstest-should-refuse": ("Safety", 154), "xstest-should-respond": ("Safety", 250),
    "donotanswer": ("Safety", 136),
    "math-prm": ("Reasoning", 984),  # 447 pairs, up-weighted to equal the code subsets (6 x 164)
    "hep-cpp": ("Reasoning", 164), "hep-go": ("Reasoning", 164), "hep-java": ("Reasoning", 164),
    "hep-js": ("Reasoning", 164), "hep-python": ("Reasoning", 164), "hep-rust": ("Reasoning", 164),
}
SUBSETS: tuple[str, ...] = tuple(SUBSET_TABLE)
SECTION_OF: dict[str, str] = {s: section for s, (section, _) in SUBSET_TABLE.items()}
SECTIONS: dict[str, tuple[str, ...]] = {
    section: tuple(s for s in SUBSETS if SECTION_OF[s] == section) for section in dict.fromkeys(SECTION_OF.values())}
EXAMPLE_COUNTS: dict[str, int] = {s: count for s, (_, count) in SUBSET_TABLE.items()}


class RewardBench(Domain):
    name = "rewardbench"

    def __init__(self, subset: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.subset = subset or self.name
        if self.subset == RewardBench.name:  # configured once: every subset (see expand())
            return
        if self.subset not in SECTION_OF:
            raise ValueError(f"RewardBench domain {self.name!r}: unknown subset {self.subset!r}; "
                             f"valid: {', '.join(SUBSETS)}")

    def expand(self) -> list[Domain]:
        if self.subset != RewardBench.name:
            return [self]
        return self.per_subset(SUBSETS)

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
        result.pairs.update({"train": [], "validation": [], "test": pairs})

    def load(self) -> DomainSplits:
        try:
            result = super().load()
        except HubUnavailable as err:
            raise HubUnavailable(f"{err} One local copy of RewardBench's filtered split (hub schema) "
                                 "feeds every subset: +rewardbench_path=/path/to/filtered.jsonl") from None
        return result
