"""RewardBench scoring: per-subset accuracy -> four section scores -> their plain mean.

Within a section, subset accuracies are weighted by RewardBench's EXAMPLE_COUNTS (defined
with the subsets in rm_lab/data/domains/rewardbench.py), as RewardBench's
`calculate_scores_per_section` does. Subsets absent from a run are left out of their
section's weighting (and listed); a section with no subset is None. The overall score is
the plain mean of the four sections (the leaderboard's "Score" without prior sets), over
the sections present; `complete` is true only when every subset was scored. Accuracy is strict (ties lose), as everywhere in rm_lab.
"""
from __future__ import annotations

from rm_lab.data.domains.rewardbench import EXAMPLE_COUNTS, SECTION_OF, SECTIONS, SUBSETS


def section_scores(subset_accuracy: dict[str, float]) -> dict[str, float | None]:
    """{section: weighted accuracy in [0, 1] or None} from {subset: accuracy}."""
    out: dict[str, float | None] = {}
    for section, subsets in SECTIONS.items():
        present = [s for s in subsets if subset_accuracy.get(s) is not None]
        weight = sum(EXAMPLE_COUNTS[s] for s in present)
        out[section] = (sum(subset_accuracy[s] * EXAMPLE_COUNTS[s] for s in present) / weight
                        if weight else None)
    return out


def score(subset_accuracy: dict[str, float]) -> dict:
    """{"score", "sections", "subsets", "missing_subsets"}; "score" is the mean of the sections present."""
    sections = section_scores(subset_accuracy)
    present = [v for v in sections.values() if v is not None]
    missing = [s for s in SUBSETS if subset_accuracy.get(s) is None]
    return {
        "score": sum(present) / len(present) if present else None,
        "sections": sections,
        "complete": not missing,  # every subset scored: only then is "score" RewardBench's own figure
        "subsets": {s: subset_accuracy[s] for s in SUBSETS if subset_accuracy.get(s) is not None},
        "missing_subsets": missing,
    }


def score_results(accuracy: dict | None) -> dict | None:
    """RewardBench scores from a run's `accuracy` block (per-domain results keyed by subset
    name), or None when the run has no RewardBench subset."""
    per_domain = (accuracy or {}).get("per_domain") or {}
    subsets = {d: row["accuracy"] for d, row in per_domain.items() if d in SECTION_OF}
    if not subsets:
        return None
    result = score(subsets)
    result["pairs"] = {d: per_domain[d]["n"] for d in subsets}
    result["ties"] = sum(per_domain[d].get("tied", 0) for d in subsets)
    return result
