"""conf/ layout: shared bases live in conf/_bases (no group choice), every file names its command,
and every choice composes with each value its bases ask for (`???`) set."""
from __future__ import annotations

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rm_lab.core.config import CONF_DIR

BASES = CONF_DIR / "_bases"
STUDY_ONLY = {"embedding_case_study", "embedding_paper"}  # experiments of python -m rm_lab.embedding_study


def _defaults(path) -> list[str]:
    entries = (yaml.safe_load(path.read_text()) or {}).get("defaults") or []
    return [e for e in entries if isinstance(e, str)]


def _missing(node, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [m for k, v in node.items() for m in _missing(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [m for i, v in enumerate(node) for m in _missing(v, f"{path}[{i}]")]
    return [path] if node == "???" else []


def test_every_config_file_starts_with_a_command_that_uses_it():
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        lines = [line for line in path.read_text().splitlines() if line != "# @package _global_"]
        assert lines and lines[0].startswith("# ") and "python -m rm_lab" in lines[0], \
            f"{path.relative_to(CONF_DIR)} does not start with a comment holding the command that uses it"


def test_bases_sit_outside_the_groups_and_are_all_extended():
    """A yaml in a sub-folder of a group is a choice too (`model=base/encoder`), so groups have no
    sub-folders (hydra/launcher is Hydra's group); every base in conf/_bases is extended somewhere."""
    for group in sorted(p for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("_bases", "hydra")):
        nested = [p.name for p in group.iterdir() if p.is_dir() and p.name != "__pycache__"]
        assert not nested, f"conf/{group.name}/ has sub-folders {nested}: their files would be model=<folder>/<file> choices"
    used = set()
    for path in CONF_DIR.rglob("*.yaml"):
        for entry in _defaults(path):
            name = entry.split("@")[0].strip()
            if name.startswith("/_bases/"):
                used.add(name[1:])
            elif path.is_relative_to(BASES) and ":" not in name and name != "_self_":
                used.add(path.parent.relative_to(CONF_DIR).joinpath(name).as_posix())  # a base extending a sibling
    bases = {p.relative_to(CONF_DIR).with_suffix("").as_posix() for p in BASES.rglob("*.yaml")}
    assert bases and not bases - used, f"bases no config extends: {sorted(bases - used)}"


@pytest.mark.slow
def test_every_choice_sets_what_its_bases_ask_for():
    checked = 0
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for group in ("model", "dataset", "trainer", "experiment"):
            for path in sorted((CONF_DIR / group).glob("*.yaml")):
                if path.stem in STUDY_ONLY:
                    continue
                cfg = OmegaConf.to_container(compose("config", overrides=[f"{group}={path.stem}"]))
                assert not _missing(cfg), f"{group}={path.stem} leaves mandatory values unset: {_missing(cfg)}"
                checked += 1
    assert checked >= 50
