"""PNG plots: per-domain accuracy with error bars, accuracy against parameters, best-of-N curves.

    plot_domain_accuracy(table2, "reports/table2_domains.png")
    plot_accuracy_vs_params(table2, "reports/table2_accuracy_vs_params.png")
    plot_best_of_n({"mean": {1: 0.1, 4: 0.3, 16: 0.4}, "min": {...}}, "reports/best_of_n.png")

`plot_best_of_n` takes curves N -> mean golden reward per method (a value, or (mean, std) for
an error band); `best_of_n_curves(runs)` builds them from results files that carry a
"best_of_n" entry ({N: golden reward} or {"n": [...], "golden_reward": [...]}).
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rm_lab.report.runs import completed  # noqa: E402
from rm_lab.report.stats import Summary  # noqa: E402
from rm_lab.report.table import Table  # noqa: E402
from rm_lab.report.tables import label  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    """Write the PNG through a temporary name, then rename (no half-written files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _row_name(table: Table, row) -> str:
    return " / ".join(label(getattr(row, f)) for f in table.labels)


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


def plot_best_of_n(curves: dict[str, dict], path: str | Path, title: str = "Best-of-N",
                   ylabel: str = "golden reward of the chosen response") -> Path:
    """One line per method: N (log2 axis) -> mean golden reward; (mean, std) values get a band."""
    if not curves:
        raise ValueError("plot_best_of_n needs at least one curve: {method: {N: mean golden reward}}")
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for name, curve in curves.items():
        ns = sorted(curve, key=float)
        pairs = [curve[n] if isinstance(curve[n], (tuple, list)) else (curve[n], None) for n in ns]
        xs = [float(n) for n in ns]
        means = [float(m) for m, _ in pairs]
        line, = ax.plot(xs, means, marker="o", label=label(str(name)))
        if all(s is not None for _, s in pairs):
            ax.fill_between(xs, [m - s for m, s in pairs], [m + s for m, s in pairs],
                            color=line.get_color(), alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (responses sampled per prompt)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _curve(entry) -> dict[float, float]:
    if isinstance(entry, dict) and "n" in entry and "golden_reward" in entry:
        return {float(n): float(v) for n, v in zip(entry["n"], entry["golden_reward"])}
    if isinstance(entry, dict):  # {N: value} or {N: {"mean": value, ...}}
        values = {n: v.get("mean") if isinstance(v, dict) else v for n, v in entry.items()}
        return {float(n): float(v) for n, v in values.items() if isinstance(v, (int, float))}
    return {}


def best_of_n_curves(runs: list[dict]) -> dict[str, dict[float, tuple[float, float | None]]]:
    """{method (model): {N: (mean, std over seeds)}} from runs that carry "best_of_n"."""
    by: dict[str, dict[float, list[float]]] = {}
    for run in runs:
        if not completed(run) or not run.get("best_of_n"):
            continue
        name = f"{label(str(run.get('method')))} ({label(str(run.get('model')))})"
        for n, v in _curve(run["best_of_n"]).items():
            by.setdefault(name, {}).setdefault(n, []).append(v)
    return {name: {n: (Summary(vs).mean, Summary(vs).std) for n, vs in curve.items()}
            for name, curve in by.items()}
