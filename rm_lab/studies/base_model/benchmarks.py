"""The benchmark table: one row per base model, one column per benchmark score.

CSV columns: `model` (the conf/model name a sweep reports, e.g. qwen2.5-0.5b-instruct),
optionally `hub_id` (matched against the runs' model.source too), `size_b` (parameters, in
billions), `pretrain_tokens_t` (pre-training tokens, in trillions), then benchmark columns.
A column named `source` or `<column>_source` says where a number came from; any source that
mentions "synthetic" marks the whole table synthetic, and every output then says so.
Empty cells are missing values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ID_COLUMNS = ("model", "hub_id")
SIZE = "size_b"
TEMPLATE = Path(__file__).parent / "tables" / "benchmarks_template.csv"
SYNTHETIC_OFFLINE = Path(__file__).parent / "tables" / "benchmarks_synthetic_offline.csv"


def is_source_column(name: str) -> bool:
    return name == "source" or name.endswith("_source")


@dataclass
class BenchmarkTable:
    frame: pd.DataFrame                       # indexed by model; numeric feature columns only
    hub_ids: dict[str, str] = field(default_factory=dict)
    sources: dict[str, set[str]] = field(default_factory=dict)
    path: str = ""

    @property
    def features(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def synthetic(self) -> bool:
        return any("synthetic" in s.lower() for values in self.sources.values() for s in values)

    @property
    def label(self) -> str:
        return "SYNTHETIC benchmark table (made-up numbers, not measurements)" if self.synthetic else \
            "benchmark table: " + Path(self.path).name


def read_benchmarks(path: str | Path) -> BenchmarkTable:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"benchmark table {path} does not exist; start from {TEMPLATE} "
                                f"(or the offline one, {SYNTHETIC_OFFLINE})")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "model" not in raw.columns:
        raise ValueError(f"{path}: the first column must be `model` (the conf/model name); found {list(raw.columns)}")
    raw["model"] = raw["model"].str.strip()
    if (raw["model"] == "").any():
        raise ValueError(f"{path}: rows {list(raw.index[raw['model'] == ''] + 2)} have no model name")
    duplicated = raw["model"][raw["model"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{path}: models listed twice: {duplicated}")
    sources = {c: {v.strip() for v in raw[c] if v.strip()} for c in raw.columns if is_source_column(c)}
    hub_ids = {m: h.strip() for m, h in zip(raw["model"], raw.get("hub_id", [""] * len(raw))) if h.strip()}
    numeric = {}
    for column in raw.columns:
        if column in ID_COLUMNS or is_source_column(column):
            continue
        values = raw[column].str.strip().replace("", np.nan)
        converted = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & converted.isna()
        if bad.any():
            rows = [f"{raw['model'][i]}={values[i]!r}" for i in raw.index[bad]]
            raise ValueError(f"{path}: column {column!r} holds non-numbers: {', '.join(rows[:5])}")
        numeric[column] = converted.to_numpy(dtype=float)
    frame = pd.DataFrame(numeric, index=pd.Index(raw["model"], name="model"))
    return BenchmarkTable(frame=frame, hub_ids=hub_ids, sources=sources, path=str(path))
