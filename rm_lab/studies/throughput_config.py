"""The throughput bench's runs (`python -m rm_lab.bench`, `make bench`): their config, composed
without torch, so a wrong option or precision is said before the bench's libraries load."""
from __future__ import annotations

from omegaconf import DictConfig

from rm_lab.core.config import compose

DEFAULTS = ["dataset=hh_rlhf_sample", "model=minilm-l6", "model.max_length=256", "dataset.batch_size=16",
            "method.lr=5e-5", "logger=none", "checkpoint.last=false"]
PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}  # the bench's names -> trainer.precision


def check_precisions(precisions: tuple[str, ...]) -> None:
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        raise ValueError(f"unknown precisions {unknown}; valid: {', '.join(PRECISIONS)}")


def run_config(overrides: list[str], pairs: int, test_pairs: int, precision: str) -> DictConfig:
    """One training run of the bench at `precision` (fp32 | bf16), with the user's overrides last."""
    return compose([*DEFAULTS, f"dataset.max_pairs.train={pairs}", f"dataset.max_pairs.test={test_pairs}",
                    "dataset.max_pairs.validation=32", f"trainer.precision={PRECISIONS[precision]}", *overrides])
