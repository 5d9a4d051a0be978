"""Numbers taken from one run's results.json (None when the run does not have them)."""
from __future__ import annotations


def _get(run: dict, *keys):
    node = run
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def domain_accuracy(run: dict, domain: str) -> float | None:
    return _number(_get(run, "accuracy", "per_domain", domain, "accuracy"))


def average_accuracy(run: dict) -> float | None:
    return _number(_get(run, "accuracy", "average"))


def total_params(run: dict) -> float | None:
    return _number(_get(run, "params", "total"))


def epochs(run: dict) -> int:
    """Epochs the run trained for: train_time.epochs if the method wrote it, else the method's
    own `epochs` setting, else trainer.max_epochs, else 1."""
    for keys in (("train_time", "epochs"), ("config", "method", "epochs"),
                 ("config", "trainer", "max_epochs")):
        value = _get(run, *keys)
        if isinstance(value, int) and value > 0:
            return value
    return 1


def epoch_seconds(run: dict) -> float | None:
    """One epoch's training time: total training seconds over the number of epochs."""
    total = _number(_get(run, "train_time", "total_s"))
    if total is None or not _get(run, "train_time", "per_epoch_s"):
        return None  # nothing was trained (train=false): no training time to report
    return total / epochs(run)


def component_epoch_seconds(run: dict) -> dict[str, float]:
    """One epoch's training time of each component (router, each domain's RM, ...)."""
    by = _get(run, "train_time", "by_component") or {}
    n = epochs(run)
    return {name: float(s) / n for name, s in by.items() if _number(s) is not None}


def inference_ms(run: dict) -> float | None:
    """Milliseconds per scored input (one text) at test time."""
    seconds = _number(_get(run, "inference", "seconds_per_input"))
    return None if seconds is None else 1000.0 * seconds


def domains_with_pairs(run: dict) -> list[str]:
    return list((_get(run, "accuracy", "per_domain") or {}).keys())


def absent_domains(run: dict) -> dict[str, str]:
    """{domain: why} for domains the run's data did not have."""
    out = {}
    for name, counts in (run.get("data") or {}).items():
        if isinstance(counts, dict) and counts.get("absent"):
            reason = counts.get("absent")
            out[name] = reason if isinstance(reason, str) else "absent"
    return out
