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
    return "\n".join(lines)
