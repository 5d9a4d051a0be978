"""The case study's table (Markdown) and best-of-N plot (PNG), from its summary rows."""
from __future__ import annotations

from pathlib import Path


def _pm(stat: dict | None, spec: str = ".3f") -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    if stat.get("n", 2) < 2:  # one seed: no spread to show (a std of 0 would claim one)
        return f"{stat['mean']:{spec}}"
    return f"{stat['mean']:{spec}} ± {stat['std']:{spec}}"


def beta_name(beta) -> str:
    return "perfect" if beta is None else f"beta={beta:g}"


def table(summary: list[dict], title: str, ns: list[int]) -> str:
    shown = [n for n in ns if n in (ns[-1], 10, 100)] if len(ns) > 3 else ns
    head = ["annotation", "label agreement", "rule", f"golden reward BoN N={ns[-1]}",
            *[f"BoN gain N={n}" for n in shown], "Spearman", "pairwise acc"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in summary:
        cells = [beta_name(row["beta"]), _pm(row["agreement"]), row["rule"], _pm(row["best_of_n"].get(str(ns[-1]))),
                 *[_pm(row["bon_gain"].get(str(n))) for n in shown], _pm(row["spearman"]), _pm(row["pairwise_accuracy"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Mean ± std over seeds (one seed: its value alone). Golden reward BoN: the mean golden reward of the best-of-N response "
                 "(by the reward model); BoN gain: that minus the golden reward of a random response (N=1).")
    return "\n".join(lines) + "\n"


def plot(summary: list[dict], title: str, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    betas = list(dict.fromkeys(row["beta"] for row in summary))
    fig, axes = plt.subplots(1, len(betas), figsize=(4.2 * len(betas), 3.6), squeeze=False, sharey=True)
    for ax, beta in zip(axes[0], betas):
        for row in (r for r in summary if r["beta"] == beta):
            ns = sorted(int(n) for n in row["bon_gain"])
            mean = [row["bon_gain"][str(n)]["mean"] for n in ns]
            std = [row["bon_gain"][str(n)]["std"] for n in ns]
            ax.plot(ns, mean, marker="o", ms=3, label=row["rule"])
            ax.fill_between(ns, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.15)
        ax.set_xscale("log")
        ax.set_title(beta_name(beta))
        ax.set_xlabel("N (responses per prompt)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("golden reward gain over N=1")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"Best-of-N: {title}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
