"""Values checked before any data is read: each failure names the key and the allowed range.

    from rm_lab.core.checks import check_values
    check_values(cfg)        # raises ConfigValueError("method.lr must be a finite number > 0, got nan")

The runner's plan stage calls it first. A key a config does not have is skipped (a study's or
a method's config carries only its own), so one list serves every run.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from rm_lab.core.errors import ConfigValueError

# key -> (smallest allowed, what null means or None when null is refused)
COUNTS: dict[str, tuple[int, str | None]] = {
    "seed": (0, None),
    "model.max_length": (1, None),
    "trainer.max_epochs": (1, None),
    "dataset.batch_size": (1, None),
    "dataset.eval_batch_size": (1, None),
    "method.batch_size": (1, None),
    "method.eval_batch_size": (1, None),
    "method.epochs": (1, None),
    "method.embed.batch_size": (1, None),
}
RATES: dict[str, str | None] = {  # key -> what null means (None: null refused)
    "method.lr": None,
    "method.router_lr": "method.lr",
}
SPLITS = ("train", "validation", "test")
MISSING = object()


def _value(cfg: DictConfig, key: str):
    """The key's value; MISSING where the config has no such key or leaves it `???`."""
    try:
        return OmegaConf.select(cfg, key, default=MISSING, throw_on_missing=True)
    except MissingMandatoryValue:
        return MISSING


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_count(key: str, value, smallest: int, null: str | None) -> None:
    if value is None and null is not None:
        return
    if not _is_int(value) or value < smallest:
        allowed = f"an integer >= {smallest}" + (f" (null: {null})" if null else "")
        raise ConfigValueError(f"{key} must be {allowed}, got {value!r}")


def check_rate(key: str, value, null: str | None) -> None:
    if value is None and null is not None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigValueError(f"{key} must be a finite number > 0" + (f" (null: {null})" if null else "")
                               + f", got {value!r}")


def check_caps(caps) -> None:
    """dataset.max_pairs.<split>: null (no cap), an integer >= 1, or {domain: null or integer >= 1}."""
    if caps is None:
        return
    if not isinstance(caps, Mapping):
        raise ConfigValueError(f"dataset.max_pairs must be a mapping of splits {list(SPLITS)}, got {caps!r}")
    for split, cap in caps.items():
        for where, value in (cap.items() if isinstance(cap, Mapping) else [(None, cap)]):
            if value is not None and (not _is_int(value) or value < 1):
                key = f"dataset.max_pairs.{split}" + (f".{where}" if where is not None else "")
                zero = f" (for no cap give null: {key}=null)" if _is_int(value) and value == 0 else ""
                raise ConfigValueError(f"{key} must be null (no cap) or an integer >= 1, got {value!r}{zero}")


def check_values(cfg: DictConfig) -> None:
    """Every checked key the config has, in the order above; the first bad one raises."""
    for key, (smallest, null) in COUNTS.items():
        value = _value(cfg, key)
        if value is not MISSING:
            check_count(key, value, smallest, null)
    for key, null in RATES.items():
        value = _value(cfg, key)
        if value is not MISSING:
            check_rate(key, value, null)
    caps = _value(cfg, "dataset.max_pairs")
    if caps is not MISSING:
        check_caps(caps)


TEST_ON = ("best", "last")  # which epoch's weights the test set scores


def check_runner(cfg: DictConfig) -> None:
    """What only the runner (`python -m rm_lab`) asks of a config, checked with its values: a
    training run's experiment (not a study's), `test_on`, and `ckpt` only with train=false."""
    runs_with = cfg.get("runs_with", "rm_lab")
    if runs_with != "rm_lab":  # an experiment of a study, not of the runner
        raise ConfigValueError(f"experiment={cfg.get('experiment_name')} is not a training run: run it with "
                               f"python -m {runs_with} experiment={cfg.get('experiment_name')}")
    if cfg.get("test_on", "best") not in TEST_ON:
        raise ConfigValueError(f"test_on must be one of {list(TEST_ON)}, got {cfg.get('test_on')!r}")
    if cfg.get("ckpt") and cfg.get("train", True):
        raise ConfigValueError(f"ckpt={cfg.ckpt} tests a trained model's weights: add train=false")
    check_values(cfg)

