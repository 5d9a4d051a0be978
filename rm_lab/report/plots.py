"""PNG plots: per-domain accuracy with error bars, accuracy against parameters.

    plot_domain_accuracy(table2, "reports/table2_domains.png")
    plot_accuracy_vs_params(table2, "reports/table2_accuracy_vs_params.png")
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rm_lab.core.io import atomic_path  # noqa: E402
from rm_lab.report.grouping import Table  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return Path(path)


def _row_name(table: Table, row) -> str:
    return " / ".join(table.row_labels(row))


def plot_domain_accuracy(table: Table, path: str | Path) -> Path | None:
    """Grouped bars: one group per domain (and the average), one bar per row, std error bars."""
    cols = [c for c in table.columns if c.key.startswith("accuracy/")]
    rows = [r for r in table.rows if any(c.key in r.cells for c in cols)]
    if not cols or not rows:
        return None
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(cols) * max(1, len(rows)) ** 0.5), 4.0))
    for i, row in enumerate(rows):
        xs, means, errs = [], [], []
        for j, col in enumerate(cols):
            cell = row.cells.get(col.key)
            if cell:
                xs.append(j - 0.4 + width * (i + 0.5))
                means.append(cell.summary.mean)
                errs.append(cell.summary.std or 0.0)
        ax.bar(xs, means, width, yerr=errs, capsize=3, label=_row_name(table, row))
    ax.set_xticks(range(len(cols)), [c.label for c in cols])
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_ylim(0, 1)
    ax.set_ylabel("pairwise accuracy (mean ± std over seeds)")
    ax.set_title(table.title, fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_accuracy_vs_params(table: Table, path: str | Path) -> Path | None:
    """Average accuracy (± std) against total parameters (log scale), one point per row."""
    pts = [(r, r.cells["params/total"], r.cells["accuracy/average"]) for r in table.rows
           if "params/total" in r.cells and "accuracy/average" in r.cells]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for row, params, acc in pts:
        ax.errorbar([params.summary.mean], [acc.summary.mean], yerr=[acc.summary.std or 0.0],
                    fmt="o", capsize=3, label=_row_name(table, row))
    ax.set_xscale("log")
    ax.set_xlabel("total parameters")
    ax.set_ylabel("average pairwise accuracy")
    ax.set_title(f"{table.title.split(':')[0]}: average accuracy against total parameters", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_column_bars(table: Table, key: str, path: str | Path) -> Path | None:
    """One column (e.g. "accuracy/hh_rlhf") as one bar per row, mean with ± std error bars over
    seeds and each bar's seed count under it (the W&B report's per-domain chart)."""
    col = next((c for c in table.columns if c.key == key), None)
    rows = [r for r in table.rows if col is not None and key in r.cells]
    if not rows:
        return None
    cells = [r.cells[key].summary for r in rows]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(rows) + 1.5), 3.6))
    xs = range(len(rows))
    ax.bar(xs, [s.mean for s in cells], 0.6, yerr=[s.std or 0.0 for s in cells], capsize=4,
           color=[f"C{i}" for i in xs])
    ax.set_xticks(list(xs), [f"{_row_name(table, r)}\n(n={s.n})" for r, s in zip(rows, cells)], fontsize=7)
    if col.kind == "accuracy":
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
    ax.set_ylabel(f"{col.label} (mean ± std over seeds)", fontsize=8)
    ax.set_title(f"{table.title.split(':')[0]}: {col.label}", fontsize=9)
    return _save(fig, path)
