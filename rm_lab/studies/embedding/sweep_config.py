"""The embedding sweep's config (`python -m rm_lab.embedding_study.sweep`): composed and checked
without torch, so a wrong option is said before the sweep's libraries load."""
from __future__ import annotations

from datetime import datetime

from omegaconf import DictConfig, OmegaConf, open_dict

from rm_lab.core.config import compose


def compose_cfg(overrides: list[str], output_dir: str | None = None) -> DictConfig:
    cfg = compose(overrides)
    if "sweep" not in cfg:
        raise ValueError("the sweep needs sweep.seeds and sweep.heads: add experiment=embedding_heads")
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    with open_dict(cfg):
        cfg.paths.output_dir = output_dir or f"{cfg.paths.sweep_root}/{cfg.experiment_name}_sweep/{stamp}"
    OmegaConf.resolve(cfg)
    return cfg
