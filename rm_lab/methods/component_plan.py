"""Which parts of a composite method (RODOS, ARLISS) a run trains, and which it takes as stored.

A routed method's parts are named `router` and `reward_model/<domain>` (one per covered domain),
plus shared ones that every other part builds on (ARLISS's `backbone`). A fresh run trains them
all. With `method.reuse_components=RUN_DIR` the stored parts are taken from that run and only
the router, the parts it lacks, or those listed in `method.retrain` are trained (how a domain
is added without retraining the rest); with `resume=true` the parts an interrupted attempt of
this run already finished are taken from its own components/ folder.

A plan only decides; the method loads the parts it names (rm_lab/rundir/components.py holds
the files) and its `FitSchedule` (rm_lab/methods/fit_schedule.py) trains the others.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from rm_lab.core.errors import NoPairsError
from rm_lab.rundir.manifest import ComponentsManifest

ROUTER = "router"
PREFIX = "reward_model/"

log = logging.getLogger(__name__)


def reward_component(domain: str) -> str:
    """The name of a domain's reward part ('reward_model/<domain>')."""
    return PREFIX + domain


def component_domain(name: str) -> str:
    """The domain of a reward part's name ('reward_model/<domain>' -> '<domain>')."""
    return name[len(PREFIX):]


@dataclass(frozen=True)
class ComponentPlan:
    """`names`: the parts this run stores, in training order (the router, then each covered
    domain's); `to_train`: those it fits; `reused`: those loaded (and frozen) from
    `reused_from`, shared parts included; `resumed`: those an interrupted attempt finished."""

    names: tuple[str, ...]
    to_train: frozenset[str]
    reused: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    reused_from: str | None = None

    @classmethod
    def train_all(cls, names: list[str]) -> ComponentPlan:
        return cls(tuple(names), frozenset(names))

    @classmethod
    def reusing(cls, names: list[str], shared: list[str], stored: ComponentsManifest, method: str, model: str,
                retrain: list[str] | None, domains: list[str], covered: list[str], folder: str,
                reused_from: str) -> ComponentPlan:
        """The plan for a run reusing the stored components in `folder` (`stored`, their manifest;
        `reused_from`: the run as the method's option gave it):
        `retrain` None trains the router and every part not stored, else exactly the parts it
        lists (domain names or component names). ValueError when the stored parts are another
        method's or model's, or a part is neither stored nor retrained."""
        if stored.method != method or stored.model != model:
            raise ValueError(f"stored components in {folder} come from method={stored.method} "
                             f"model={stored.model}; this run is method={method} model={model}")
        files = stored.components
        if retrain is None:
            fit = {ROUTER} | {n for n in names if n not in files}
        else:
            fit = {_component_name(n, domains, covered) for n in retrain}
            missing = sorted(n for n in fit if n not in names)
            if missing:
                raise NoPairsError(f"method.retrain: {missing} have no training pairs in this run's data; "
                                   "give the domain's data (dataset.domains.<domain>.path=FILE)")
        for name in [n for n in files if n not in names and n not in shared]:
            log.warning("stored component %s is not used: its domain has no training pairs in this run", name)
        reused = []
        for name in shared + names:
            if name in fit:
                continue
            if name not in files:
                if name in shared:
                    continue
                raise ValueError(f"{name} is neither stored in {folder} nor listed in method.retrain")
            reused.append(name)
        return cls(tuple(names), frozenset(fit & set(names)), tuple(reused), reused_from=reused_from)

    def resuming(self, finished: dict[str, str]) -> ComponentPlan:
        """This plan after an interruption: the parts to train that `finished` (the stored
        components of this run's own folder) already holds are taken from there instead."""
        done = tuple(n for n in self.names if n in self.to_train and n in finished)
        return replace(self, to_train=self.to_train - set(done), resumed=self.resumed + done)

    def summary(self) -> dict:
        """The results.json `components` block's plan fields."""
        return {"trained": sorted(self.to_train), "reused": list(self.reused), "reused_from": self.reused_from,
                "resumed": list(self.resumed)}


def _component_name(name: str, domains: list[str], covered: list[str]) -> str:
    if name == ROUTER or name.startswith(PREFIX):
        return name
    if name in domains:
        return reward_component(name)
    raise ValueError(f"method.retrain: unknown component {name!r}; valid: {ROUTER}, {', '.join(covered)}")
