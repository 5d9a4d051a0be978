"""What RODOS and ARLISS share: a router over domains, one reward component per domain.

The router reads the prompt and picks a covered domain (a domain with training pairs); the
chosen domain's reward component scores the pair. Inputs are grouped by predicted domain, so
each component runs once per group. This module routes and scores; the other jobs are classes
of their own:
- which components a run trains, reuses or resumes: `ComponentPlan` (component_plan.py);
- fitting them, the router first, then each domain on its own pairs, each in its own fit:
  `FitSchedule` (fit_schedule.py), timed one by one (`rm_lab.eval.timing.timed_fit`);
- storing them under `components/` in the run's folder, each as soon as it is fitted:
  `ComponentStore` (rm_lab/rundir/components.py), so a later run can reuse them
  (`reuse_components`) and retrain only what is new (`retrain`): that is how a domain is added
  without retraining the rest.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from rm_lab.core.io import is_main_process
from rm_lab.data.batch import PairBatch
from rm_lab.data.protocol import PairData
from rm_lab.eval.metrics import PairwiseAccuracy
from rm_lab.methods.base import RewardModule
from rm_lab.methods.component_plan import PREFIX, ROUTER, ComponentPlan, component_domain, reward_component
from rm_lab.methods.fit_schedule import FitSchedule
from rm_lab.methods.fitting import RewardFit, RouterFit
from rm_lab.methods.router_stats import RouterConfusion, covered_domains, summary_lines
from rm_lab.rundir.components import ComponentStore
from rm_lab.rundir.manifest import ComponentsManifest

__all__ = ["PREFIX", "ROUTER", "RoutedRewardModule"]

log = logging.getLogger(__name__)


class RoutedRewardModule(RewardModule):
    method_name = "routed"
    checkpoint_whole = False  # components/ holds every trained part

    def __init__(self, domains: list[str], backbone_name: str, lr: float = 2e-5, weight_decay: float = 0.0,
                 warmup_steps: int = 0, router_lr: float | None = None, oracle: bool = True,
                 save_components: bool = True, reuse_components: str | None = None,
                 retrain: list[str] | None = None):
        super().__init__(domains, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps)
        self.backbone_name = backbone_name
        self.router_lr = router_lr or lr
        self.oracle = oracle
        self.save_components = save_components
        self.reuse_components = reuse_components
        self.retrain_request = list(retrain) if retrain is not None else None
        self.covered = list(self.domains)
        self.plan = ComponentPlan.train_all([ROUTER, *(reward_component(d) for d in self.domains)])
        self.components_dir: str | None = None
        self.epoch_seconds: dict[str, float] = {}
        self.peak_memory: dict[str, int | None] = {}
        self.confusion = RouterConfusion(self.domains)
        self.oracle_accuracy = PairwiseAccuracy(self.domains)
        self.forced_routes = None  # a callable(batch) -> domain indices, to bypass the router
        self._last_routes: torch.Tensor | None = None

    # -- to implement ----------------------------------------------------------------------
    def router_logits(self, input_ids, attention_mask) -> torch.Tensor:
        raise NotImplementedError

    def score_with(self, domain: str, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        raise NotImplementedError

    def drop_domains(self, names: list[str]) -> None:
        raise NotImplementedError

    def router_fit(self) -> RouterFit:
        raise NotImplementedError

    def reward_fit(self, domain: str) -> RewardFit:
        raise NotImplementedError

    def component_state(self, name: str) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def load_component_state(self, name: str, state: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def freeze_component(self, name: str) -> None:
        raise NotImplementedError

    def stored_names(self) -> list[str]:
        """Components written to components/: the router and each covered domain's model."""
        return [ROUTER] + [reward_component(d) for d in self.covered]

    def shared_names(self) -> list[str]:
        """Components shared by all others (ARLISS's backbone); stored when they cannot be rebuilt."""
        return []

    def after_training(self) -> None:
        """Restore the module's state after the component fits (ARLISS re-activates adapters)."""

    # -- routing and scoring -----------------------------------------------------------------
    def route_logits(self, batch: PairBatch) -> torch.Tensor:
        """Router logits over all domains, uncovered domains masked out."""
        logits = self.router_logits(batch["prompt_input_ids"], batch["prompt_attention_mask"])
        mask = torch.tensor([d not in self.covered for d in self.domains], device=logits.device)
        return logits.masked_fill(mask, torch.finfo(logits.dtype).min)

    def route(self, batch: PairBatch) -> torch.Tensor:
        """The router's predicted domain per pair; `forced_routes`, when set, replaces the
        prediction (the router still runs, so its cost is still paid and timed)."""
        predicted = self.route_logits(batch).argmax(-1)
        if self.forced_routes is not None:
            return self.forced_routes(batch).to(predicted.device)
        return predicted

    def group_order(self, routes: list[int]) -> list[int]:
        return sorted(routes)

    def score_routes(self, batch: PairBatch, routes: torch.Tensor) -> torch.Tensor:
        """Rewards of all rows (chosen then rejected), each pair scored by its routed domain."""
        pairs = routes.shape[0]
        rewards = torch.zeros(2 * pairs, device=batch["input_ids"].device)
        types = batch.get("token_type_ids")
        for d in self.group_order(torch.unique(routes).tolist()):
            chosen = (routes == d).nonzero(as_tuple=True)[0]
            rows = torch.cat([chosen, chosen + pairs])
            mask = batch["attention_mask"][rows]
            length = int(mask.sum(1).max())
            rewards[rows] = self.score_with(
                self.domains[d], batch["input_ids"][rows, :length], mask[:, :length],
                None if types is None else types[rows, :length]).to(rewards.dtype)
        return rewards

    def score(self, batch: PairBatch) -> torch.Tensor:
        routes = self.route(batch)
        self._last_routes = routes
        return self.score_routes(batch, routes)

    # -- the components: which, fitted how, stored where ---------------------------------------
    def prepare(self, data: PairData) -> None:
        covered = covered_domains(data, self.domains)
        self.drop_domains([d for d in self.domains if d not in covered])
        self.covered = covered
        if self.reuse_components:
            store = ComponentStore.locate(self.reuse_components, self.method_name)
            self.plan = ComponentPlan.reusing(
                self.stored_names(), self.shared_names(), store.manifest(), self.method_name, self.backbone_name,
                self.retrain_request, self.domains, self.covered, str(store.folder), self.reuse_components)
            store.load_parts(self, list(self.plan.reused), freeze=True)
        elif self.retrain_request:
            raise ValueError("method.retrain needs method.reuse_components (a stored run to take the rest from)")
        else:
            self.plan = ComponentPlan.train_all(self.stored_names())

    def resume_from(self, run_dir) -> None:
        """Components a killed run finished (stored in RUN_DIR/components) are loaded, not retrained."""
        store = ComponentStore.of_run(run_dir)
        if not store.exists():
            return
        plan = self.plan.resuming(store.stored())
        finished = [n for n in plan.resumed if n not in self.plan.resumed]
        store.load_parts(self, finished)
        for name in finished:
            log.info("resume: %s was finished before the interruption; loaded from %s", name, store.folder)
        self.plan = plan

    def component_fit(self, name: str, data: PairData) -> tuple[pl.LightningModule, PairData]:
        """The fit of one component and the part of the data it trains on: the router on the
        covered domains' pairs, a domain's reward model on that domain's."""
        if name == ROUTER:
            return self.router_fit(), data.subset(self.covered)
        domain = component_domain(name)
        return self.reward_fit(domain), data.subset([domain])

    def run_training(self, make_trainer, data: PairData) -> dict[str, float]:
        by_component: dict[str, float] = {}
        run_dir = None
        store = self.save_components and is_main_process()
        for done in FitSchedule(self.plan, torch.initial_seed()).fits(self.component_fit, make_trainer, data,
                                                                       self.device):
            by_component[done.name] = done.time.wall_s
            # pure epoch time (the fit's wall time also holds Lightning's per-fit setup)
            self.epoch_seconds[done.name] = done.time.epoch_s
            self.peak_memory[done.name] = done.peak_bytes
            run_dir = done.run_dir
            if store:  # stored as soon as it is done: a resume skips it
                self.store_components(run_dir, [done.name])
        self.after_training()
        if store and run_dir is not None:
            self.store_components(run_dir)
        return by_component

    def store_components(self, run_dir: Path, names: list[str] | None = None) -> Path:
        """Store components (all of them by default) in RUN_DIR/components, and the manifest
        listing every stored one."""
        identity = ComponentsManifest(self.method_name, self.backbone_name, list(self.domains), list(self.covered))
        folder = ComponentStore.of_run(run_dir).save_parts(
            self, names if names is not None else self.shared_names() + self.stored_names(), identity,
            update=names is not None)
        self.components_dir = str(folder)
        return folder

    # -- evaluation ---------------------------------------------------------------------------
    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self.confusion.reset()
        self.oracle_accuracy.reset()

    def test_step(self, batch: PairBatch, batch_idx: int) -> None:
        super().test_step(batch, batch_idx)
        routes = self._last_routes
        gold = batch["domain"]
        self.confusion.update(gold.cpu(), routes.cpu())
        if self.oracle:
            covered = torch.tensor([d in self.covered for d in self.domains], device=gold.device)
            oracle_routes = torch.where(covered[gold], gold, routes)
            chosen, rejected = self.split_rewards(self.score_oracle(batch, oracle_routes))
            self.oracle_accuracy.update(chosen, rejected, gold)

    def test_state(self) -> dict:
        return {**super().test_state(), "router": self.confusion, "oracle": self.oracle_accuracy}

    def score_oracle(self, batch: PairBatch, routes: torch.Tensor) -> torch.Tensor:
        return self.score_routes(batch, routes)

    def component_labels(self) -> dict[str, str]:
        return {ROUTER: "Router", PREFIX.rstrip("/"): "RM"}

    def extra_results(self) -> dict:
        router = self.confusion.summary(self.covered)
        router["covered_domains"] = list(self.covered)
        router["uncovered_domains"] = [d for d in self.domains if d not in self.covered]
        plan = self.plan.summary()
        out = {"router": router,
               "components": {"trained": plan["trained"], "reused": plan["reused"],
                              "reused_from": plan["reused_from"], "stored_in": self.components_dir,
                              "resumed": plan["resumed"], "epoch_s": dict(self.epoch_seconds),
                              "peak_memory_bytes": dict(self.peak_memory)}}
        if self.oracle:
            out["oracle_accuracy"] = self.oracle_accuracy.compute()
        return out

    def summary_lines(self, results: dict) -> list[str]:
        return summary_lines(results)
