"""Router bookkeeping: which domains a router covers, its confusion matrix over domains, and the
lines a routed run prints under its accuracy table."""
from __future__ import annotations

import torch


def covered_domains(data, domains: list[str]) -> list[str]:
    """The domains with training pairs (or, when nothing has training pairs, test pairs)."""
    for split in ("train", "test"):
        present = set(data.domains_with_pairs(split))
        covered = [d for d in domains if d in present]
        if covered:
            return covered
    raise ValueError("no domain has any pairs; a router needs at least one domain with training pairs")


class RouterConfusion:
    """Counts (gold domain, predicted domain) over test pairs."""

    def __init__(self, domains: list[str]):
        self.domains = list(domains)
        self.reset()

    def reset(self) -> None:
        self.matrix = torch.zeros(len(self.domains), len(self.domains), dtype=torch.long)

    def state(self) -> torch.Tensor:
        return self.matrix.to(torch.float64)

    def load(self, state: torch.Tensor) -> None:
        self.matrix = state.detach().cpu().round().long()

    def update(self, gold: torch.Tensor, predicted: torch.Tensor) -> None:
        for g, p in zip(gold.tolist(), predicted.tolist()):
            self.matrix[g, p] += 1

    def summary(self, covered: list[str]) -> dict:
        """accuracy over all routed test pairs; confusion rows = gold, columns = predicted,
        over the covered domains plus any gold domain with test pairs."""
        used = [i for i, d in enumerate(self.domains)
                if d in covered or self.matrix[i].sum() > 0]
        sub = self.matrix[used][:, used]
        n = int(self.matrix.sum())
        per_domain = {}
        for i in used:
            total = int(self.matrix[i].sum())
            if total:
                per_domain[self.domains[i]] = {"accuracy": int(self.matrix[i, i]) / total, "n": total}
        return {
            "accuracy": int(self.matrix.diagonal().sum()) / n if n else None,
            "n": n,
            "per_domain": per_domain,
            "confusion": {"labels": [self.domains[i] for i in used], "rows": "gold", "columns": "predicted",
                          "matrix": sub.tolist()},
        }


def summary_lines(results: dict) -> list[str]:
    """Lines under a routed run's accuracy table: the router's accuracy and confusion, the oracle
    routing's accuracy, the components reused."""
    lines = []
    router = results.get("router") or {}
    if router:
        lines.append(f"router accuracy {_fmt(router.get('accuracy'))} over {router.get('n')} test pairs; covers "
                     f"{', '.join(router.get('covered_domains', []))}"
                     + (f" (no training pairs: {', '.join(router['uncovered_domains'])})"
                        if router.get("uncovered_domains") else ""))
        labels = (router.get("confusion") or {}).get("labels", [])
        if labels:
            lines.append("| gold \\ routed | " + " | ".join(labels) + " |")
            lines.append("| --- |" + " ---: |" * len(labels))
            lines.extend(f"| {g} | " + " | ".join(str(c) for c in row) + " |"
                         for g, row in zip(labels, router["confusion"]["matrix"]))
    oracle = results.get("oracle_accuracy")
    if oracle:
        lines.append(f"accuracy with oracle (gold) routing: {_fmt(oracle.get('average'))}")
    components = results.get("components") or {}
    if components.get("reused"):
        lines.append(f"reused from {components.get('reused_from')}: {', '.join(components['reused'])}; "
                     f"trained: {', '.join(components.get('trained', []))}")
    return lines


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"
