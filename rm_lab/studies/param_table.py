"""Parameter counts of the router paper's methods, built from config without any weights.

    python -m rm_lab.param_table                        # the paper's rows (make params)
    python -m rm_lab.param_table --methods base_lora arliss --models deberta-v3-base bert-base
    python -m rm_lab.param_table hydra.searchpath=[file:///my/conf]   # + the rows of methods found there

The rows are the methods' own declarations (`Capabilities.paper_rows` beside each method class:
the backbones the paper reports it on and its figure there), read through the method registry.

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
from rm_lab.methods.capabilities import methods as registered
from rm_lab.runner.build import build_backbone, build_method


def paper(overrides: list[str] = ()) -> dict[tuple[str, str], float | None]:
    """{(method, model): the paper's total in millions or None} from the methods' declared paper rows
    (`Capabilities.paper_rows`), in the registry's order; the paper's rows of the table."""
    return {(m.choice, row.model): row.params_m for m in registered(overrides) for row in m.capabilities.paper_rows}


def largest(overrides: list[str] = ()) -> tuple[str, str]:
    """What the paper's "% of largest Baseline" divides by: the reference method's (Baseline's)
    paper row with the most parameters (DeBERTa-v3-large)."""
    rows = [(row.params_m, (m.choice, row.model)) for m in registered(overrides, reference=True)
            for row in m.capabilities.paper_rows if row.params_m]
    if not rows:
        raise ValueError("no method declares Capabilities(reference=True) with a paper row to divide by")
    return max(rows)[1]


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


def rows(methods: list[str] | None = None, models: list[str] | None = None,
         overrides: list[str] = ()) -> list[dict]:
    """One row per (method, model): the declared paper rows of every method (conf/method and any
    `hydra.searchpath` in `overrides`), or methods x models (default model: deberta-v3-base).
    `overrides` also go to every config composed (e.g. a method's own options)."""
    figures = paper(overrides)
    pairs = list(figures) if not (methods or models) else [
        (m, b) for m in (methods or list(dict.fromkeys(m for m, _ in figures)))
        for b in (models or ["deberta-v3-base"])]
    top = largest(overrides)
    counted = {pair: count_method(*pair, *overrides) for pair in dict.fromkeys([*pairs, top])}
    top_m = counted[top]["total"] / 1e6
    out = []
    for method, model in pairs:
        counts = counted[(method, model)]
        paper_m = figures.get((method, model))
        total = counts["total"] / 1e6
        out.append({"method": method, "model": model, "total_m": total, "trainable_m": counts["trainable"] / 1e6,
                    "paper_m": paper_m, "diff_pct": 100 * (total - paper_m) / paper_m if paper_m else None,
                    "of_largest_pct": 100 * total / top_m,
                    "paper_of_largest_pct": 100 * paper_m / figures[top] if paper_m else None})
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
