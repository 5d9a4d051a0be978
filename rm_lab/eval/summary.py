"""A per-domain accuracy table for the terminal, from a results dict."""
from __future__ import annotations


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def accuracy_table(results: dict) -> str:
    data = results.get("data", {})
    per_domain = (results.get("accuracy") or {}).get("per_domain", {})
    lines = [f"{results.get('method')} on {results.get('model')} / {results.get('dataset')} "
             f"(seed {results.get('seed')}, status {results.get('status')})",
             "| domain | test pairs | accuracy | ties | note |",
             "| --- | ---: | ---: | ---: | --- |"]
    for domain, counts in data.items():
        row = per_domain.get(domain)
        if counts.get("absent"):
            lines.append(f"| {domain} | 0 | absent | - | {counts['absent']} |")
        elif row is None:
            lines.append(f"| {domain} | 0 | - | - | no test pairs |")
        else:
            lines.append(f"| {domain} | {row['n']} | {_fmt(row['accuracy'])} | {row['tied']} | |")
    acc = results.get("accuracy") or {}
    lines.append(f"| **average** | {acc.get('n', 0)} | {_fmt(acc.get('average'))} | {acc.get('ties', '-')} | "
                 "mean over present domains |")
    params = results.get("params") or {}
    timing = results.get("train_time") or {}
    infer = results.get("inference") or {}
    lines.append("")
    lines.append(f"parameters: {params.get('total', 0) / 1e6:.1f}M total, "
                 f"{params.get('trainable', 0) / 1e6:.1f}M trainable; "
                 f"train {_fmt(timing.get('total_s'), '.1f')} s "
                 f"({_fmt(timing.get('pairs_per_s'), '.2f')} pairs/s); inference "
                 f"{_fmt((infer.get('seconds_per_input') or 0) * 1000, '.2f')} ms/input")
    lines.extend(component_lines(results))
    return "\n".join(lines)


def component_lines(results: dict) -> list[str]:
    """Train time by component, router accuracy and confusion, oracle routing, experts' load."""
    lines = []
    by_component = (results.get("train_time") or {}).get("by_component") or {}
    epoch_s = (results.get("components") or {}).get("epoch_s") or {}
    if len(by_component) > 1 or epoch_s:
        lines.append("train time by component, fit (one epoch): " + ", ".join(
            f"{k} {v:.1f} s ({_fmt(epoch_s.get(k), '.1f')} s)" for k, v in by_component.items()))
    router = results.get("router")
    if router:
        lines.append(f"router accuracy {_fmt(router.get('accuracy'))} over {router.get('n')} test pairs; covers "
                     f"{', '.join(router.get('covered_domains', []))}"
                     + (f" (no training pairs: {', '.join(router['uncovered_domains'])})"
                        if router.get("uncovered_domains") else ""))
        confusion = router.get("confusion") or {}
        labels = confusion.get("labels", [])
        if labels:
            lines.append("| gold \\ routed | " + " | ".join(labels) + " |")
            lines.append("| --- |" + " ---: |" * len(labels))
            lines.extend(f"| {g} | " + " | ".join(str(c) for c in row) + " |"
                         for g, row in zip(labels, confusion["matrix"]))
    oracle = results.get("oracle_accuracy")
    if oracle:
        lines.append(f"accuracy with oracle (gold) routing: {_fmt(oracle.get('average'))}")
    switches = results.get("adapter_switches")
    if switches:
        lines.append(f"adapter switches: {switches['total']} ({switches['per_batch']:.2f} per test batch)")
    components = results.get("components") or {}
    if components.get("reused"):
        lines.append(f"reused from {components.get('reused_from')}: {', '.join(components['reused'])}; "
                     f"trained: {', '.join(components.get('trained', []))}")
    load = results.get("expert_load")
    if load and load.get("overall"):
        lines.append(f"experts' load (top-{load['k']} share of test inputs): "
                     + ", ".join(f"e{i} {x:.2f}" for i, x in enumerate(load["overall"])))
    return lines
