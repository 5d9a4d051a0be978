"""Parameter counts of the router paper's methods, built from config without any weights.

    python -m rm_lab.param_table                        # the paper's rows (make params)
    python -m rm_lab.param_table --methods base_lora arliss --models deberta-v3-base bert-base

Every backbone is built from its `conf/model` architecture with `pretrained=false` on the
meta device (shapes only: no memory, no download), with the five domains of the paper, and
counted the way the paper counts: RODOS = router + one reward model per domain, ARLISS =
backbone + every adapter and head. Prints one Markdown row per method and backbone, with each
total as a percentage of the largest Baseline (DeBERTa-v3-large), ours and the paper's (its
Table 2 column).
"""
from __future__ import annotations

import torch

from rm_lab.core.config import compose
from rm_lab.eval.params import count_components
from rm_lab.runner.build import build_backbone, build_method

# Total parameters in millions, as the paper reports them (DeBERTa-v3).
PAPER = {
    ("baseline", "deberta-v3-large"): 435, ("baseline", "deberta-v3-base"): 185,
    ("base_lora", "deberta-v3-base"): 187,
    ("more", "deberta-v3-base"): 207, ("more", "deberta-v3-small"): 164, ("more", "deberta-v3-xsmall"): 77,
    ("rodos", "deberta-v3-base"): 1110, ("rodos", "deberta-v3-small"): 846, ("rodos", "deberta-v3-xsmall"): 420,
    ("arliss", "deberta-v3-base"): 197, ("arliss", "deberta-v3-small"): 147, ("arliss", "deberta-v3-xsmall"): 76,
}


def compose_cfg(method: str, model: str, *overrides: str):
    return compose([f"method={method}", f"model={model}", "model.pretrained=false", "dataset=five_domains",
                    *overrides])


def count_method(method: str, model: str, *overrides: str, device: str = "meta") -> dict:
    """count_components() of a method built from config (the five domains, no weights)."""
    cfg = compose_cfg(method, model, *overrides)
    backbone = build_backbone(cfg)
    domains = list(cfg.dataset.domains)
    with torch.device(device):
        module = build_method(cfg.method, backbone=backbone, domains=domains)
    return count_components(module.components())


LARGEST = ("baseline", "deberta-v3-large")  # what the paper's "% of largest Baseline" divides by


def rows(methods: list[str] | None = None, models: list[str] | None = None) -> list[dict]:
    pairs = [(m, b) for (m, b) in PAPER] if not (methods or models) else [
        (m, b) for m in (methods or sorted({m for m, _ in PAPER})) for b in (models or ["deberta-v3-base"])]
    counted = {pair: count_method(*pair) for pair in dict.fromkeys([*pairs, LARGEST])}
    largest = counted[LARGEST]["total"] / 1e6
    out = []
    for method, model in pairs:
        counts = counted[(method, model)]
        paper = PAPER.get((method, model))
        total = counts["total"] / 1e6
        out.append({"method": method, "model": model, "total_m": total, "trainable_m": counts["trainable"] / 1e6,
                    "paper_m": paper, "diff_pct": 100 * (total - paper) / paper if paper else None,
                    "of_largest_pct": 100 * total / largest,
                    "paper_of_largest_pct": 100 * paper / PAPER[LARGEST] if paper else None})
    return out


def markdown(table: list[dict]) -> str:
    lines = ["| method | model | total (M) | trainable (M) | paper (M) | difference "
             "| % of largest Baseline | paper's % |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in table:
        paper = "-" if r["paper_m"] is None else f"{r['paper_m']:,}"
        diff = "-" if r["diff_pct"] is None else f"{r['diff_pct']:+.1f}%"
        paper_pct = "-" if r["paper_of_largest_pct"] is None else f"{r['paper_of_largest_pct']:.1f}%"
        lines.append(f"| {r['method']} | {r['model']} | {r['total_m']:,.1f} | {r['trainable_m']:,.1f} | {paper} | {diff} "
                     f"| {r['of_largest_pct']:.1f}% | {paper_pct} |")
    return "\n".join(lines)
