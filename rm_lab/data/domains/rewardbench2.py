"""RewardBench 2 (hub `allenai/reward-bench-2`, split `test`): an evaluation set of rows with
one prompt, its correct answers and several incorrect ones.

Hub rows: {id, prompt, chosen: [str, ...], rejected: [str, ...], num_correct, num_rejected,
total_completions, models, subset, additional_metadata}. Configured once
(`conf/domain/rewardbench2.yaml`), the domain expands into one domain per subset (`DOMAIN_OF`:
rb2_factuality, rb2_precise_if, rb2_math, rb2_safety, rb2_focus, rb2_ties). A row becomes pairs
that together score each of its answers once: every correct answer against the first incorrect
one, and the first correct answer against every other incorrect one. A pair's id names its row
and the answers it holds (`pair_id`, read back by `answer_of`), so the test rewards rebuild
each row's scores and `rm_lab.eval.rewardbench2` scores the rows as RewardBench 2 does.
Every pair goes to the test split; per-domain accuracy is then the pairwise rate of those pairs.
"""
from __future__ import annotations

from rm_lab.core.hub import HubUnavailable
from rm_lab.data.domains.base import Domain, DomainSplits
from rm_lab.data.pairs import MalformedRow, Pair, make_pair, require_text

# RewardBench 2's subsets, as its rows name them (`subset`); Ties is scored apart (rm_lab.eval.rewardbench2)
SUBSETS: tuple[str, ...] = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")
TIES = "Ties"
PREFIX = "rb2_"
DOMAIN_OF: dict[str, str] = {s: PREFIX + s.lower().replace(" ", "_") for s in SUBSETS}
SUBSET_OF: dict[str, str] = {d: s for s, d in DOMAIN_OF.items()}
SEP = "|"


def pair_id(domain: str, row_id: str, correct: int, incorrect: int) -> str:
    return SEP.join((domain, row_id, str(correct), str(incorrect)))


def answer_of(pair: str) -> tuple[str, str, int, int] | None:
    """(domain, row id, correct answer index, incorrect answer index) of a RewardBench 2 pair id;
    None for any other pair."""
    if not pair.startswith(PREFIX):
        return None
    domain, rest = pair.split(SEP, 1)
    row_id, correct, incorrect = rest.rsplit(SEP, 2)
    return domain, row_id, int(correct), int(incorrect)


def _texts(row: dict, field: str) -> list[str]:
    value = row.get(field)
    if value is None:
        raise MalformedRow("missing_field", field)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise MalformedRow("non_text_value", field)
    return value


class RewardBench2(Domain):
    name = "rewardbench2"

    def __init__(self, subset: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.subset = subset or SUBSET_OF.get(self.name, self.name)
        if self.subset == RewardBench2.name:  # configured once: every subset (see expand())
            return
        if self.subset not in DOMAIN_OF:
            raise ValueError(f"RewardBench 2 domain {self.name!r}: unknown subset {self.subset!r}; "
                             f"valid: {', '.join(SUBSETS)}")

    def expand(self) -> list[Domain]:
        if self.subset != RewardBench2.name:
            return [self]
        return self.per_subset(SUBSETS, DOMAIN_OF.__getitem__)

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        subset = row.get("subset")
        if not isinstance(subset, str) or not subset:
            raise MalformedRow("missing_field", "subset")
        if subset != self.subset:
            return []  # a sibling domain's row
        prompt = require_text(row, "prompt")
        chosen, rejected = _texts(row, "chosen"), _texts(row, "rejected")
        if row.get("num_correct") not in (None, len(chosen)):
            raise MalformedRow("num_correct_mismatch", f"row {index}")
        row_id = str(row.get("id", index))
        if SEP in row_id:
            raise MalformedRow("bad_id", row_id)
        answers = [(i, 0) for i in range(len(chosen))] + [(0, j) for j in range(1, len(rejected))]
        pairs = []
        for i, j in answers:
            made = make_pair(self.name, prompt, chosen[i], rejected[j], group=row_id)
            pairs.append(Pair(pair_id(self.name, row_id, i, j), made.domain, made.prompt, made.chosen,
                              made.rejected, group=row_id))
        return pairs

    def _hash_split(self, pairs: list[Pair], result: DomainSplits, which: tuple[str, ...]) -> None:
        """An evaluation set: every pair is a test pair, whatever the source."""
        result.pairs.update({"train": [], "validation": [], "test": pairs})

    def load(self) -> DomainSplits:
        try:
            return super().load()
        except HubUnavailable as err:
            raise HubUnavailable(f"{err} One local copy of RewardBench 2's test split (hub schema, "
                                 "JSON lines) feeds every subset: +rewardbench2_path=/path/to/test.jsonl") from None
