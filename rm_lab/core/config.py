"""Config helpers: where `conf/` is, OmegaConf resolvers, and composing outside `@hydra.main`.

    from rm_lab.core.config import compose
    cfg = compose(["model=tiny-deberta", "method=rodos"])          # conf/config.yaml + overrides
    study = compose(["experiment=embedding_case_study"], config_name="embedding_study")
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # rm_lab/
SAMPLES_DIR = PACKAGE_DIR / "data" / "samples"


def conf_dir() -> Path:
    """The config tree: `rm_lab/conf` inside an installed wheel, the top-level `conf/` of a
    source checkout (an editable install)."""
    for candidate in (PACKAGE_DIR / "conf", PACKAGE_DIR.parent / "conf"):
        if (candidate / "config.yaml").exists():
            return candidate
    raise FileNotFoundError(f"rm_lab's config tree is missing: neither {PACKAGE_DIR / 'conf'} nor "
                            f"{PACKAGE_DIR.parent / 'conf'} holds config.yaml; reinstall the package")


CONF_DIR = conf_dir()


def compose(overrides: list[str] | tuple[str, ...] = (), config_name: str = "config",
            return_hydra_config: bool = False) -> DictConfig:
    """The composed config (unresolved), as `python -m rm_lab <overrides>` would see it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)


def choices(group: str) -> list[str]:
    """The options of a config group in the package's conf/ (e.g. choices("model")), sorted."""
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


def sample_path(relative: str) -> str:
    """Absolute path of a bundled sample file, e.g. `${sample:hh_rlhf/x.jsonl.gz}`."""
    path = SAMPLES_DIR / relative
    if not path.exists():
        raise FileNotFoundError(f"bundled sample {relative!r} is missing under {SAMPLES_DIR}")
    return str(path)


def job_key(overrides: str) -> str:
    """A sweep job's folder name from its overrides (Hydra's `job.override_dirname`: sorted, with
    `resume` left out), so a sweep run again, in any order, finds each job's folder."""
    import hashlib

    return hashlib.sha1(str(overrides).encode("utf-8")).hexdigest()[:8]


GROUP_MAX = 128  # W&B's limit on a group's length


def run_group(output_dir: str) -> str:
    """`${run_group:${paths.output_dir}}`: what a run is grouped under (W&B's group, the report's
    aggregate run): the sweep's folder in a multirun (`hydra.sweep.dir`), else the run's own
    folder; relative to the working directory when below it, cut to its last 128 characters."""
    folder = Path(output_dir)
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        folder = Path(HydraConfig.get().sweep.dir)
    return group_of(folder)


def group_of(folder: str | Path) -> str:
    """A folder as a group name (see `run_group`)."""
    folder = Path(folder).absolute()
    try:
        name = str(folder.relative_to(Path.cwd()))
    except ValueError:
        name = str(folder)
    return name[-GROUP_MAX:]


def padded(value, width) -> str:
    """`${pad:${seed},3}` -> "002": numbers that sort as text (run names, tags)."""
    return str(value).zfill(int(width))


def register_resolvers() -> None:
    for name, fn in (("sample", sample_path), ("run_group", run_group), ("pad", padded), ("job_key", job_key)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
