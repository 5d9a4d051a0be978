"""Reward-model quality per base model, from sweep results (or a CSV of published scores).

The target of a run is its RewardBench score (mean of the four sections, rm_lab.eval.rewardbench)
when the run evaluated RewardBench, else its mean pairwise accuracy over domains. Seeds of one
model are averaged; the parts (RewardBench sections, or the domains) are kept as extra columns.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from rm_lab.eval.rewardbench import score_results
from rm_lab.rundir.results import (
    average_accuracy,
    completed,
    is_debug,
    load_runs,
    model_source,
    per_domain_accuracy,
    rewardbench,
)

TARGETS = ("auto", "rewardbench", "average")


def run_target(run: dict, target: str) -> tuple[float | None, dict[str, float], str]:
    """(score, parts, what) for one completed run."""
    bench = rewardbench(run) or score_results(run.get("accuracy"))
    if target in ("auto", "rewardbench") and bench and bench.get("score") is not None:
        parts = {k: v for k, v in bench["sections"].items() if v is not None}
        return bench["score"], parts, "RewardBench score (mean of sections)"
    if target == "rewardbench":
        return None, {}, "RewardBench score"
    return average_accuracy(run), per_domain_accuracy(run), "mean pairwise accuracy over domains"


def scores_from_runs(paths: list[str | Path], target: str = "auto") -> tuple[pd.DataFrame, dict]:
    """(frame indexed by model: score, score_std, seeds, parts...; info about runs used/skipped)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")
    runs = load_runs(*paths)
    by_model: dict[str, list[tuple[float, dict]]] = defaultdict(list)
    sources: dict[str, str] = {}
    skipped, what, settings = [], set(), set()
    for run in runs:
        if not completed(run):
            skipped.append({"path": run["path"], "model": run.get("model"),
                            "status": "debug" if is_debug(run) else run.get("status"),
                            "error": run.get("error")})
            continue
        score, parts, described = run_target(run, target)
        if score is None:
            skipped.append({"path": run["path"], "model": run.get("model"), "status": "no target",
                            "error": f"no {described}"})
            continue
        what.add(described)
        settings.add((run.get("method"), run.get("dataset")))
        by_model[run["model"]].append((score, parts))
        sources[run["model"]] = model_source(run)
    if not by_model:
        raise ValueError(f"no completed run with a score under {', '.join(map(str, paths))} "
                         f"({len(runs)} results files, {len(skipped)} skipped)")
    if len(settings) > 1:
        raise ValueError("the runs mix methods/datasets " + ", ".join(f"{m}/{d}" for m, d in sorted(settings, key=str))
                         + ": pass the folders of one sweep (one method, one dataset, many base models)")
    rows = {}
    for model, entries in by_model.items():
        values = np.array([s for s, _ in entries])
        row = {"score": values.mean(), "score_std": values.std(ddof=1) if len(values) > 1 else 0.0,
               "seeds": len(values)}
        for part in sorted({p for _, parts in entries for p in parts}):
            vals = [parts[part] for _, parts in entries if part in parts]
            row[f"part:{part}"] = float(np.mean(vals))
        rows[model] = row
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_values("score", ascending=False)
    frame.index.name = "model"
    info = {"runs": len(runs), "used": sum(len(v) for v in by_model.values()), "skipped": skipped,
            "target": " / ".join(sorted(what)), "hub_ids": sources}
    return frame, info


def scores_from_csv(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A CSV of published reward-model scores: `model`, `score`, optional section columns."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"scores table {path} does not exist: give a CSV with columns model and score")
    table = pd.read_csv(path)
    missing = {"model", "score"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: a scores table needs columns model and score; missing {sorted(missing)}")
    table = table.set_index("model")
    frame = pd.DataFrame({"score": pd.to_numeric(table["score"]), "score_std": 0.0, "seeds": 1})
    for column in table.columns:
        if column != "score" and pd.api.types.is_numeric_dtype(table[column]):
            frame[f"part:{column}"] = table[column]
    frame.index.name = "model"
    return frame.sort_values("score", ascending=False), {"runs": 0, "used": len(frame), "skipped": [],
                                                        "target": f"scores from {path}", "hub_ids": {}}
