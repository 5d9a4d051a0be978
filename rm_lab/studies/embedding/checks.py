"""The embedding study's config checked before its libraries load (`python -m rm_lab.embedding_study`):
a wrong data source, a missing data folder or an unknown rule is said in one line, at once."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from rm_lab.core.errors import ConfigValueError

SOURCES = ("synthetic", "files")
RULE_NAMES = ("mean", "min", "mean_minus_var", "mean_minus_std", "single")  # rm_lab.models.ensemble_heads.RULES, without torch


def check_study(cfg: DictConfig) -> None:
    """ConfigValueError naming the key for: `data.source` not one of SOURCES, `data.source=files`
    without `data.path` or with one that is not a folder, a rule not in RULE_NAMES."""
    data = cfg.data
    if data.source not in SOURCES:
        raise ConfigValueError(f"data.source must be one of {list(SOURCES)}, got {data.source!r}")
    if data.source == "files":
        if not data.path:
            raise ConfigValueError("data.source=files needs data.path=DIR, the folder with embd_<name>_<split>.npy "
                                   "and reward_<name>_<split>.npy (splits train and test), and data.name=<name> "
                                   "when it holds several sets, e.g. data.name=Gemma2b-sft_Gemma2b_Harmless")
        folder = Path(str(data.path)).expanduser()
        if not folder.is_dir():
            raise ConfigValueError(f"data.path={folder} is not a folder: give the folder that holds "
                                   "embd_<name>_train.npy, embd_<name>_test.npy and their reward_<name>_<split>.npy")
    bad = [rule for rule in cfg.get("rules", []) if rule not in RULE_NAMES]
    if bad:
        raise ConfigValueError(f"rules {bad} are unknown; valid: {list(RULE_NAMES)}")
