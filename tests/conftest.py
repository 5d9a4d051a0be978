"""Tests compose the real config (hydra.compose) and shrink it; nothing needs the network."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rm_lab.config import compose

FIXTURES = Path(__file__).parent / "fixtures"

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY = [
    "model=tiny-deberta",
    "dataset.max_pairs.train=24",
    "dataset.max_pairs.test=12",
    "dataset.batch_size=8",
    "logger=csv",
]


@pytest.fixture
def make_cfg(tmp_path):
    """compose(overrides) -> a config for a tiny run writing under tmp_path."""

    def _make(*overrides: str, out: str = "run"):
        cfg = compose([*TINY, *overrides])
        cfg.paths.output_dir = str(tmp_path / out)
        cfg.paths.cache_dir = str(tmp_path / "cache")
        OmegaConf.resolve(cfg)
        return cfg

    return _make


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
