"""PNG plots: a correlation bar chart and predicted against actual reward-model quality."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def correlation_bars(table: pd.DataFrame, path: Path, title: str, alpha: float = 0.05) -> Path:
    """Pearson and Spearman per feature; bars whose p-value < alpha are drawn solid, the rest hatched."""
    table = table.dropna(subset=["spearman_rho"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(table) + 2), 4.5))
    x = np.arange(len(table))
    for offset, (stat, p, label) in zip((-0.2, 0.2), (("pearson_r", "pearson_p", "Pearson r"),
                                                      ("spearman_rho", "spearman_p", "Spearman rho"))):
        bars = ax.bar(x + offset, table[stat], width=0.4, label=label)
        for bar, pvalue in zip(bars, table[p]):
            if not pvalue < alpha:
                bar.set_hatch("//")
                bar.set_alpha(0.5)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, table["feature"], rotation=60, ha="right", fontsize=8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("correlation with reward-model score")
    ax.set_title(f"{title}\n(hatched: p >= {alpha})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def predicted_vs_actual(predicted: pd.Series, actual: pd.Series, path: Path, title: str) -> Path:
    common = predicted.index.intersection(actual.index)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(actual[common], predicted[common])
    for name in common:
        ax.annotate(str(name), (actual[name], predicted[name]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    lo = float(min(actual[common].min(), predicted[common].min()))
    hi = float(max(actual[common].max(), predicted[common].max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("actual reward-model score")
    ax.set_ylabel("Elastic Net prediction (out of fold)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
