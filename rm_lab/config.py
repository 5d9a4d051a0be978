"""Config helpers: OmegaConf resolvers and the path of the `conf/` tree."""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR.parent / "conf"
SAMPLES_DIR = PACKAGE_DIR / "data" / "samples"


def sample_path(relative: str) -> str:
    """Absolute path of a bundled sample file, e.g. `${sample:hh_rlhf/x.jsonl.gz}`."""
    path = SAMPLES_DIR / relative
    if not path.exists():
        raise FileNotFoundError(f"bundled sample {relative!r} is missing under {SAMPLES_DIR}")
    return str(path)


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("sample"):
        OmegaConf.register_new_resolver("sample", sample_path)
