"""The effect of post-training stages on reward-model quality: each stage against its base model.

    python -m rm_lab -m experiment=base_model_stages          # train the stages' reward models (GPU, hub)
    python -m rm_lab.analysis.stages --runs multirun/base_model_stages --out reports/stages
    python -m rm_lab.analysis.stages --scores scores.csv --stages my_stages.csv   # model,family,stage,parent

A reward model's score per base model (RewardBench score, else mean pairwise accuracy; seeds
averaged, rm_lab.studies.base_model.scores) is set against the zoo's stages (rm_lab.studies.base_model.zoo.STAGES, or
a CSV with model, family, stage, parent). Per model: the change from its family's base model
(`delta_vs_base`, absolute; `rel_vs_base`, relative to the base's score) and from the model it
was trained from (`delta_vs_parent`, `rel_vs_parent`), so SFT is measured against the base and
DPO or RL against the SFT model before them. `stage_summary` averages them per stage over
families. The base-model paper (Ahrabian et al., 2025) reports SFT adding about 15.5% over the
base and the later alignment steps costing 3-5%.
Outputs in --out: stage_effect.csv, stage_summary.csv, stage_effect.md.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rm_lab.core.io import write_text_atomic
from rm_lab.studies.base_model.zoo import STAGE_NAMES, STAGES, ZooEntry

COLUMNS = ["family", "stage", "model", "parent", "score", "base_score", "delta_vs_base", "rel_vs_base",
           "parent_score", "delta_vs_parent", "rel_vs_parent"]


def read_stages(path: str | Path) -> list[ZooEntry]:
    """Stage entries from a CSV with columns model, family, stage and parent (empty for a base)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"stages table {path} does not exist: give a CSV with columns model, family, "
                                "stage and parent")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"model", "family", "stage", "parent"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: a stages table needs columns model, family, stage, parent (empty for a "
                         f"base model); missing {sorted(missing)}")
    return [ZooEntry(r.model.strip(), r.family.strip(), r.stage.strip(), r.parent.strip() or None)
            for r in table.itertuples()]


def _relative(delta: float, reference: float) -> float:
    return delta / reference if reference and not np.isnan(reference) else np.nan


def stage_table(scores: pd.Series, entries=STAGES) -> pd.DataFrame:
    """One row per entry that has a score (see the module doc), in the entries' order."""
    entries = list(entries)
    bases = {e.family: e.model for e in entries if e.stage == "base"}

    def score(model: str | None) -> float:
        return float(scores[model]) if model in scores.index and pd.notna(scores[model]) else np.nan

    rows = []
    for entry in entries:
        value = score(entry.model)
        if np.isnan(value):
            continue
        base = score(bases[entry.family]) if entry.family in bases else np.nan
        parent = score(entry.parent) if entry.parent else np.nan
        rows.append({"family": entry.family, "stage": entry.stage, "model": entry.model, "parent": entry.parent,
                     "score": value, "base_score": base, "delta_vs_base": value - base,
                     "rel_vs_base": _relative(value - base, base), "parent_score": parent,
                     "delta_vs_parent": value - parent, "rel_vs_parent": _relative(value - parent, parent)})
    return pd.DataFrame(rows, columns=COLUMNS)


def stage_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per stage (in STAGE_NAMES order): models, and the mean changes from base and from parent."""
    rows = []
    for stage in STAGE_NAMES:
        part = table[table["stage"] == stage]
        if part.empty:
            continue
        rows.append({"stage": stage, "models": len(part), "mean_delta_vs_base": part["delta_vs_base"].mean(),
                     "mean_rel_vs_base": part["rel_vs_base"].mean(),
                     "mean_delta_vs_parent": part["delta_vs_parent"].mean(),
                     "mean_rel_vs_parent": part["rel_vs_parent"].mean()})
    return pd.DataFrame(rows, columns=["stage", "models", "mean_delta_vs_base", "mean_rel_vs_base",
                                       "mean_delta_vs_parent", "mean_rel_vs_parent"])


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_\n"
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    for _, row in frame.iterrows():
        cells = []
        for name, value in row.items():
            if isinstance(value, float):
                cells.append("-" if np.isnan(value) else f"{value:+.1%}" if name.startswith(("rel", "mean_rel"))
                             else f"{value:.4f}")
            else:
                cells.append("-" if value is None else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_stage_report(scores: pd.Series, entries, out: str | Path, target: str = "") -> dict:
    """stage_effect.csv, stage_summary.csv and stage_effect.md in `out`; returns the two tables."""
    entries = list(entries)
    table = stage_table(scores, entries)
    if table.empty:
        raise ValueError(f"none of the stage models {[e.model for e in entries]} has a score "
                         f"(scored: {list(scores.index)}); train them with experiment=base_model_stages")
    summary = stage_summary(table)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "stage_effect.csv", index=False)
    summary.to_csv(out / "stage_summary.csv", index=False)
    missing = [e.model for e in entries if e.model not in set(table["model"])]
    text = ["# Post-training stages against their base model\n", f"Target: {target or 'score'}\n",
            "## Per model\n", _markdown(table), "## Per stage (mean over families)\n", _markdown(summary)]
    if missing:
        text.append(f"Not scored: {', '.join(missing)}\n")
    write_text_atomic(out / "stage_effect.md", "\n".join(text))
    return {"table": table, "summary": summary, "missing": missing}
