"""A per-domain accuracy table for the terminal, from a results dict.

The method adds its own lines (router figures, experts' load, ...) through its
`summary_lines(results)`; this module knows nothing of any method.
"""
from __future__ import annotations


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def accuracy_table(results: dict, method_lines: list[str] = ()) -> str:
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
    rb2 = results.get("rewardbench2") or {}
    if rb2.get("subsets"):
        lines.append("RewardBench 2 (rows, its scoring): " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in rb2["subsets"].items()) + f"; score {_fmt(rb2.get('score'))}"
            + ("" if rb2.get("complete") else f" (incomplete: missing {', '.join(rb2.get('missing_subsets') or [])})"))
    leaked = {d: c["test_prompts_in_train"] for d, c in data.items() if c.get("test_prompts_in_train")}
    if leaked:
        lines.append("test pairs whose prompt is also a train prompt (the source's own split): "
                     + ", ".join(f"{d} {n}" for d, n in leaked.items()))
    validation = results.get("validation") or {}
    if validation.get("best_epoch") is not None:
        lines.append(f"validation: best epoch {validation['best_epoch']} (average "
                     f"{_fmt(validation.get('best_accuracy'))}); tested on the {validation.get('test_on')} epoch")
    lines.extend(component_lines(results))
    lines.extend(method_lines)
    return "\n".join(lines)


def component_lines(results: dict) -> list[str]:
    """Train time by component (fit wall time, and one pure epoch where the method timed it)."""
    by_component = (results.get("train_time") or {}).get("by_component") or {}
    epoch_s = (results.get("components") or {}).get("epoch_s") or {}
    if len(by_component) <= 1 and not epoch_s:
        return []
    return ["train time by component, fit (one epoch): " + ", ".join(
        f"{k} {v:.1f} s ({_fmt(epoch_s.get(k), '.1f')} s)" for k, v in by_component.items())]
