"""A stored config is data, never code: the `_target_`s it may name, checked before anything is built.

A run folder's results.json (or an export's copy of it) holds the run's resolved config, whose
`_target_`s rm_lab's builders hand to `hydra.utils.instantiate`. A folder from elsewhere could
name any callable there (`builtins.open`, `os.system`, a module that runs code on import), so
every door that reads a stored config checks it first:

    cfg = checked_config(results["config"], "runs/x/results.json")   # a DictConfig, every target allowed
    node = instantiate(cfg.dataset, "runs/x/results.json", key="dataset")  # check, then hydra's instantiate
    cls = load_class(target, "runs/x/results.json", key="method._target_")

A target is allowed when it is
- one of the library targets rm_lab's own `conf/` names (`LIBRARY_TARGETS`, exact strings), or
- a class defined in rm_lab (`rm_lab.<module>.<Class>`, where the class statement is: read from
  the module's source, nothing imported; no part may start with `_`), or
- one of the few rm_lab functions `conf/` names (`RM_LAB_FUNCTIONS`).
Anything else is refused with `UnsafeTargetError` naming the key, the target and what to do;
nothing it names is imported or called. tests/test_open_safely.py composes every option of
every config group and checks that each target it names is allowed here.
"""
from __future__ import annotations

import ast
import functools
from collections.abc import Collection, Iterator
from pathlib import Path

from rm_lab.core.errors import ClearError

# the exact library targets of rm_lab's conf/ (tests/test_open_safely.py keeps this list exact)
LIBRARY_TARGETS = frozenset({
    "optuna.samplers.TPESampler",
    "pytorch_lightning.Trainer",
    "pytorch_lightning.callbacks.EarlyStopping",
    "pytorch_lightning.callbacks.LearningRateMonitor",
    "pytorch_lightning.callbacks.ModelCheckpoint",
    "pytorch_lightning.callbacks.RichProgressBar",
    "torch.optim.Adam",
    "torch.optim.AdamW",
    "torch.optim.SGD",
    "transformers.get_cosine_schedule_with_warmup",
    "transformers.get_linear_schedule_with_warmup",
})
# the rm_lab functions conf/ names (other rm_lab functions may write files: never called from a stored config)
RM_LAB_FUNCTIONS = frozenset({
    "rm_lab.methods.optim.linear_warmup",
    "rm_lab.runner.strategies.fsdp",
})
TARGET = "_target_"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # rm_lab/


class UnsafeTargetError(ClearError, ValueError):
    """A stored config names a `_target_` rm_lab does not build from a stored run."""


@functools.lru_cache(maxsize=256)
def _rm_lab_class(target: str) -> bool:
    """Whether `target` is a class defined in rm_lab's source (`rm_lab.<module>.<Class>`, nested
    classes too), read from the module's file: nothing is imported."""
    parts = target.split(".")
    if parts[0] != "rm_lab" or not all(p.isidentifier() and not p.startswith("_") for p in parts):
        return False
    for cut in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module file of rm_lab
        folder = PACKAGE_DIR.joinpath(*parts[1:cut])
        for source in (folder.with_suffix(".py") if cut > 1 else None, folder / "__init__.py"):
            if source is not None and source.is_file():
                return _defines_class(source, parts[cut:])
    return False


def _defines_class(source: Path, names: list[str]) -> bool:
    try:
        body = ast.parse(source.read_text(encoding="utf-8")).body
    except (OSError, SyntaxError, ValueError):
        return False
    for name in names:
        found = [n for n in body if isinstance(n, ast.ClassDef) and n.name == name]
        if not found:
            return False
        body = found[-1].body
    return True


def target_allowed(target, trusted: Collection[str] = ()) -> bool:
    """Whether a stored config may name `target` (see the module doc); `trusted`: targets the
    caller knows from config directories the user named (a method of their own on a searchpath)."""
    if not isinstance(target, str):
        return False
    return (target in LIBRARY_TARGETS or target in RM_LAB_FUNCTIONS or target in trusted
            or _rm_lab_class(target))


def iter_targets(node, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(dotted key, target) of every `_target_` in a plain (resolved) config tree, in order."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == TARGET:
                yield path, value
            else:
                yield from iter_targets(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from iter_targets(value, f"{prefix}[{i}]")


def refusal(key: str, target, source: str) -> UnsafeTargetError:
    return UnsafeTargetError(
        f"{source}: the stored config names {key}={target!r}, which rm_lab does not build from a stored run "
        "(a run folder is data: only rm_lab's own classes and the library targets of its conf/ are built, "
        "see rm_lab/core/safe_config.py). Nothing was imported or run. If the folder comes from a source you "
        f"trust, put back the target rm_lab wrote there (e.g. by re-running the run); otherwise do not use it")


def _plain(node, source: str):
    """The config as plain containers with interpolations resolved (what instantiate would see)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    try:
        if not isinstance(node, (DictConfig, ListConfig)):
            node = OmegaConf.create(node)
        return OmegaConf.to_container(node, resolve=True)
    except Exception as err:  # an interpolation that does not resolve, a value OmegaConf refuses
        raise UnsafeTargetError(f"{source}: the stored config cannot be read as a config "
                                f"({type(err).__name__}: {err}): the file was edited or damaged; re-run the run") from None


def check_targets(node, source: str, key: str = "", trusted: Collection[str] = ()):
    """The config `node` (a dict or DictConfig; `key`: where it sits in the run's config) as
    plain containers, resolved, once every `_target_` in it is allowed (`target_allowed`);
    UnsafeTargetError naming the first one that is not."""
    plain = _plain(node, source)
    for where, target in iter_targets(plain, key):
        if not target_allowed(target, trusted):
            raise refusal(where, target, source)
    return plain


def checked_config(node, source: str):
    """A DictConfig of the stored config `node` (resolved), every `_target_` in it allowed."""
    from omegaconf import OmegaConf

    return OmegaConf.create(check_targets(node, source))


def instantiate(node, source: str, *args, key: str = "", **kwargs):
    """hydra.utils.instantiate of a stored config node (at `key` of the run's config), once
    every `_target_` in it is allowed."""
    from hydra.utils import instantiate as hydra_instantiate
    from omegaconf import OmegaConf

    return hydra_instantiate(OmegaConf.create(check_targets(node, source, key)), *args, **kwargs)


def load_class(target, source: str, key: str = TARGET) -> type:
    """The class an allowed stored `target` names (imported, not called)."""
    if not target_allowed(target):
        raise refusal(key, target, source)
    from hydra.utils import get_class

    return get_class(str(target))
