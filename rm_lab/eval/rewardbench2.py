"""RewardBench 2 scoring (Malik et al. 2025, hub `allenai/reward-bench-2`): per-subset and overall.

A RewardBench 2 row holds one prompt, its correct answers (`chosen`, `num_correct` of them: one,
except in Ties) and several incorrect ones (`rejected`, three in best-of-4 subsets). Each answer
gets a reward; the scoring follows RewardBench 2's own code (github.com/allenai/reward-bench, read at
commit 05a9005):

- every subset but Ties (`rewardbench/utils.py`, `reroll_and_score_dataset`): a row scores
  1 when its first correct answer outscores every incorrect one; tied at the top with k-1 others,
  it scores 1/k ("penalty for ties"); otherwise 0. A subset's accuracy is the mean over its rows.
  `strict` beside it counts a row only when it wins outright (rm_lab's rule: ties never win),
  and `tied` counts the rows tied at the top.
- Ties (`rewardbench/utils.py`, `process_single_model` and `_compute_prompt_stats`, called by
  `scripts/run_v2.py`): rows are "ref:<n>" (one correct answer) and "tied:<n>" (several); a row is
  accurate when its worst correct answer outscores its best incorrect one. The subset's score is
  0.30 tied accuracy + 0.30 ref accuracy + 0.20 correctness_preferred (on prompts with both rows:
  worst-correct minus best-incorrect of the tied row above the spread of its correct answers)
  + 0.20 correctness_preferred_hard (the same with the smaller of the ref and tied gaps)
  + 0.01 the mean of tanh(min gap / spread - 1) (nan as 0).

The overall score is the unweighted mean of the subset scores (the leaderboard's "Score");
`complete` is true only when all six subsets were scored.

    score([{"id": "0", "subset": "Math", "scores": [0.9, 0.1, 0.2, 0.3], "num_correct": 1}, ...])
"""
from __future__ import annotations

import math
from collections import defaultdict

from rm_lab.data.domains.rewardbench2 import SUBSET_OF, SUBSETS, TIES, answer_of


def row_result(scores: list[float], num_correct: int = 1) -> float:
    """RewardBench 2's per-row result outside Ties: 1 / (answers tied at the top) when the first
    answer (a correct one) is at the top, else 0 (`reroll_and_score_dataset`)."""
    top = max(scores)
    return 1.0 / sum(1 for s in scores if s == top) if scores[0] == top else 0.0


def row_strict(scores: list[float], num_correct: int = 1) -> bool:
    """The correct answer(s) outscore every incorrect one (strict: a tie loses)."""
    return min(scores[:num_correct]) > max(scores[num_correct:])


def _prompt_stats(scores: list[float], num_correct: int) -> tuple[bool, float | None, float]:
    """(accurate, spread of the correct answers or None with one, worst correct - best incorrect)."""
    correct, incorrect = scores[:num_correct], scores[num_correct:]
    spread = max(correct) - min(correct) if len(correct) > 1 else None
    gap = min(correct) - max(incorrect)
    return gap > 0, spread, gap


def ties_score(rows: list[dict]) -> float:
    """The Ties subset's score from its rows ({"id": "ref:<n>" | "tied:<n>", "scores", "num_correct"}),
    as RewardBench 2's `process_single_model` computes it."""
    ref: dict[int, tuple] = {}
    tied: dict[int, tuple] = {}
    for row in rows:
        kind, prompt = str(row["id"]).split(":")
        (ref if kind == "ref" else tied)[int(prompt)] = _prompt_stats(list(row["scores"]), int(row["num_correct"]))
    ref_accuracy = _mean([s[0] for s in ref.values()]) if ref else 0.0
    tied_accuracy = _mean([s[0] for s in tied.values()]) if tied else 0.0
    both = sorted(set(ref) & set(tied))
    spread = [tied[p][1] for p in both]
    gap_tied = [tied[p][2] for p in both]
    gap_hard = [min(ref[p][2], tied[p][2]) for p in both]
    preferred = _mean([_gt(g, s) for g, s in zip(gap_tied, spread)])
    preferred_hard = _mean([_gt(g, s) for g, s in zip(gap_hard, spread)])
    margin = _mean([_tanh_ratio(g, s) for g, s in zip(gap_hard, spread)])
    return (0.30 * tied_accuracy + 0.30 * ref_accuracy + 0.20 * preferred + 0.20 * preferred_hard
            + 0.01 * margin)


def _gt(a: float, b: float | None) -> float:
    """numpy's a > b on floats (a comparison with None, i.e. nan, is False)."""
    return float(b is not None and a > b)


def _tanh_ratio(gap: float, spread: float | None) -> float:
    """tanh(gap / spread - 1) with numpy's division semantics; nan becomes 0 (as np.nan_to_num)."""
    if spread is None or (spread == 0 and gap == 0):
        return 0.0
    if spread == 0:
        return math.copysign(1.0, gap)  # +-inf / tanh -> +-1
    return math.tanh(gap / spread - 1)


def _mean(values: list[float]) -> float:
    """np.mean: nan for no values (RewardBench 2's own result then; never reached with Ties rows of both kinds)."""
    return sum(values) / len(values) if values else float("nan")


def score(rows: list[dict]) -> dict:
    """{"score", "subsets", "strict", "tied", "rows", "complete", "missing_subsets"} from rows
    {"id", "subset", "scores": [correct answers first, then incorrect], "num_correct"}."""
    by_subset: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_subset[str(row["subset"])].append(row)
    subsets: dict[str, float] = {}
    strict: dict[str, float] = {}
    tied: dict[str, int] = {}
    for name in [s for s in SUBSETS if s in by_subset] + sorted(s for s in by_subset if s not in SUBSETS):
        group = by_subset[name]
        strict[name] = _mean([float(row_strict(r["scores"], int(r["num_correct"]))) for r in group])
        if name.lower() == TIES.lower():
            subsets[name] = ties_score(group)
        else:
            subsets[name] = _mean([row_result(r["scores"], int(r["num_correct"])) for r in group])
            top = [max(r["scores"]) for r in group]
            tied[name] = sum(1 for r, t in zip(group, top) if r["scores"][0] == t
                             and sum(1 for s in r["scores"] if s == t) > 1)
    subsets = {k: (None if v != v else v) for k, v in subsets.items()}  # nan (no rows of a kind): None
    missing = [s for s in SUBSETS if subsets.get(s) is None]
    scored = [v for v in subsets.values() if v is not None]
    return {"score": _mean(scored) if scored else None, "subsets": subsets,
            "strict": strict, "tied": tied, "rows": {s: len(by_subset[s]) for s in subsets},
            "complete": not missing, "missing_subsets": missing}


def rows_from_pairs(rewards: dict[str, tuple[float, float]]) -> tuple[list[dict], int]:
    """RewardBench 2 rows ({"id", "subset", "scores", "num_correct"}) rebuilt from test pairs'
    rewards {pair id: (chosen reward, rejected reward)} (the pairs rm_lab.data.domains.rewardbench2
    makes: each answer of a row scored once), and how many rows were left out because a pair of
    theirs was not scored (a capped test split: RewardBench 2 needs every pair of a row)."""
    found: dict[tuple[str, str], tuple[dict[int, float], dict[int, float]]] = {}
    for pair, (chosen, rejected) in rewards.items():
        answer = answer_of(pair)
        if answer is None:
            continue
        domain, row_id, i, j = answer
        correct, incorrect = found.setdefault((domain, row_id), ({}, {}))
        correct.setdefault(i, float(chosen))
        incorrect.setdefault(j, float(rejected))
    rows, incomplete = [], 0
    for (domain, row_id), (correct, incorrect) in found.items():
        if sorted(correct) != list(range(len(correct))) or sorted(incorrect) != list(range(len(incorrect))):
            incomplete += 1
            continue
        rows.append({"id": row_id, "subset": SUBSET_OF[domain], "num_correct": len(correct),
                     "scores": [correct[i] for i in range(len(correct))] + [incorrect[j] for j in range(len(incorrect))]})
    return rows, incomplete


def score_pairs(rewards: dict[str, tuple[float, float]]) -> dict | None:
    """The `rewardbench2` block of results.json from test pairs' rewards; None without RewardBench 2 pairs."""
    rows, incomplete = rows_from_pairs(rewards)
    if not rows and not incomplete:
        return None
    result = score(rows)
    result["incomplete_rows"] = incomplete
    return result
