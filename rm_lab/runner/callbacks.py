"""The Lightning callbacks a run's config adds to rm_lab's own, in every fit.

rm_lab's trainers always carry their own callbacks (the epoch timer, validation selection, the
resume checkpoint; rm_lab/runner/run.py). A config adds Lightning's or anyone's on top, as
`_target_` nodes, two ways:

    python -m rm_lab callbacks=[lr_monitor,early_stopping]       # conf/callbacks/<name>.yaml, by name
    python -m rm_lab '+trainer.callbacks=[{_target_: pytorch_lightning.callbacks.LearningRateMonitor}]'

Both are built fresh for each fit (a composite method fits several times). A ModelCheckpoint
without a `dirpath` writes to checkpoints/lightning/<part>/ (RunDir.callback_checkpoints), and the
trainer is told to allow it (enable_checkpointing). Anything that is not a `_target_` node is
refused before any work, saying what to write instead.
"""
from __future__ import annotations

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from rm_lab.rundir.layout import RunDir

EXAMPLE = "callbacks=[lr_monitor] or '+trainer.callbacks=[{_target_: pytorch_lightning.callbacks.LearningRateMonitor}]'"


def callback_nodes(cfg: DictConfig) -> list[tuple[str, DictConfig]]:
    """(where, node) for every callback the config adds: `callbacks.<name>` then `trainer.callbacks[i]`."""
    nodes: list[tuple[str, DictConfig]] = []
    group = cfg.get("callbacks")
    if group is not None and not isinstance(group, DictConfig):
        raise ValueError(f"callbacks must name conf/callbacks choices, got {group!r}: write {EXAMPLE}")
    for name, node in (group or {}).items():
        if node is not None:
            nodes.append((f"callbacks.{name}", node))
    listed = cfg.trainer.get("callbacks")
    if listed is not None and not isinstance(listed, ListConfig):
        raise ValueError(f"trainer.callbacks must be a list of _target_ nodes, got {listed!r}: write {EXAMPLE}")
    nodes += [(f"trainer.callbacks[{i}]", node) for i, node in enumerate(listed or [])]
    for where, node in nodes:
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ValueError(f"{where} is not a callback: give a node with a _target_ (a Lightning callback "
                             f"class), got {OmegaConf.to_container(node) if OmegaConf.is_config(node) else node!r}; "
                             f"e.g. {EXAMPLE}")
    return nodes


def configured_callbacks(cfg: DictConfig, component: str | None = None) -> list:
    """The config's callbacks, built for one fit (`component`: the part it trains)."""
    built = []
    for where, node in callback_nodes(cfg):
        try:
            target = get_class(node._target_) if isinstance(node._target_, str) else None
            extra = {}
            if isinstance(target, type) and issubclass(target, ModelCheckpoint) and node.get("dirpath") is None:
                extra["dirpath"] = str(RunDir(cfg.paths.output_dir).callback_checkpoints(component))
            built.append(instantiate(node, _convert_="all", **extra))
        except Exception as err:
            raise ValueError(f"{where}: cannot build {node.get('_target_')}: {err}") from err
    return built
