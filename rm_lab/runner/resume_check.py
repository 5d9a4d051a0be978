"""A resume continues the run its checkpoints belong to: its training config must be theirs.

    differences(stored_config, config)   # ["method.lr: 0.001 -> 0.01", "seed: 0 -> 1"]

The interrupted attempt's resolved config is the one in its results.json (written before any
work, by the attempt whose checkpoints are in the folder). Keys that do not change what is
trained are left out (`IGNORED`: where files go and how they are grouped, loggers, checkpoint
cadence, progress bars, the inference timing's sample);
`trainer.max_epochs` may grow (a resume that trains longer) but not shrink. Any other
difference is refused unless `resume_accept_changes=true`.
"""
from __future__ import annotations

from collections.abc import Mapping

from rm_lab.core.errors import ResumeConfigChanged

IGNORED = ("resume", "resume_accept_changes", "paths", "run_group", "logger", "checkpoint", "inference_samples",
           "dataset.cache_dir",
           "dataset.num_workers", "trainer.enable_progress_bar", "trainer.enable_model_summary",
           "trainer.log_every_n_steps", "method.embed.progress")
MAY_GROW = ("trainer.max_epochs",)
ABSENT = "<absent>"


def flatten(node, prefix: str = "") -> dict:
    if isinstance(node, Mapping):
        out: dict = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def _ignored(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in IGNORED)


def differences(stored: Mapping, current: Mapping) -> list[str]:
    """`key: stored -> current` for every training-relevant key whose value differs."""
    old, new = flatten(stored), flatten(current)
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, ABSENT), new.get(key, ABSENT)
        if a == b or _ignored(key):
            continue
        if key in MAY_GROW and isinstance(a, int) and isinstance(b, int) and b > a:
            continue
        out.append(f"{key}: {a!r} -> {b!r}")
    return out


def check_resume(stored: Mapping, current: Mapping, accept: bool, where: str) -> list[str]:
    """Raises ResumeConfigChanged listing the differences (unless `accept`); returns them."""
    found = differences(stored, current)
    if found and not accept:
        raise ResumeConfigChanged(
            f"resume=true into {where}: the config differs from the interrupted run's in {len(found)} "
            f"key(s): {'; '.join(found)}. Resume with the same values, or add resume_accept_changes=true "
            "to continue with the new ones")
    return found
