"""What RODOS and ARLISS share: a router over domains, one reward component per domain.

The router reads the prompt and picks a covered domain (a domain with training pairs); the
chosen domain's reward component scores the pair. Inputs are grouped by predicted domain, so
each component runs once per group. Components are trained in separate fits (router first,
then each domain on its own pairs), timed one by one, and saved under `components/` in the
run's directory so a later run can reuse them (`reuse_components`) and retrain only what is
new (`retrain`): that is how a domain is added without retraining the rest.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytorch_lightning as pl
import torch

from rm_lab.core.io import atomic_path, is_main_process, write_json_atomic
from rm_lab.data.batch import PairBatch
from rm_lab.data.protocol import PairData
from rm_lab.eval.metrics import PairwiseAccuracy
from rm_lab.eval.timing import clock
from rm_lab.methods.base import RewardModule
from rm_lab.methods.fitting import RewardFit, RouterFit
from rm_lab.methods.router_stats import RouterConfusion, covered_domains

ROUTER = "router"
PREFIX = "reward_model/"
MANIFEST = "manifest.json"

log = logging.getLogger(__name__)


def component_file(name: str) -> str:
    return name.replace("/", "-") + ".pt"


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
        self.to_train = {ROUTER, *(PREFIX + d for d in self.domains)}
        self.reused: list[str] = []
        self.resumed: list[str] = []  # components a resumed run loaded instead of retraining
        self.components_dir: str | None = None
        self.epoch_seconds: dict[str, float] = {}
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
        """Components written by `save()`: the router and each covered domain's model."""
        return [ROUTER] + [PREFIX + d for d in self.covered]

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

    # -- data, reuse, training ----------------------------------------------------------------
    def prepare(self, data: PairData) -> None:
        covered = covered_domains(data, self.domains)
        self.drop_domains([d for d in self.domains if d not in covered])
        self.covered = covered
        names = self.stored_names()
        self.to_train = {ROUTER, *(PREFIX + d for d in covered)}
        if self.reuse_components:
            self._reuse(names)
        elif self.retrain_request:
            raise ValueError("method.retrain needs method.reuse_components (a stored run to take the rest from)")

    def _normalize(self, name: str) -> str:
        if name == ROUTER or name.startswith(PREFIX):
            return name
        if name in self.domains:
            return PREFIX + name
        raise ValueError(f"method.retrain: unknown component {name!r}; valid: {ROUTER}, "
                         f"{', '.join(self.covered)}")

    def _reuse(self, names: list[str]) -> None:
        folder = Path(self.reuse_components).expanduser()
        if (folder / "components" / MANIFEST).exists():
            folder = folder / "components"
        if not (folder / MANIFEST).exists():
            raise FileNotFoundError(
                f"method.reuse_components={self.reuse_components}: no {MANIFEST} there; give the directory "
                f"of a trained {self.method_name} run (it holds components/) or its components/ folder")
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("method") != self.method_name or manifest.get("model") != self.backbone_name:
            raise ValueError(
                f"stored components in {folder} come from method={manifest.get('method')} "
                f"model={manifest.get('model')}; this run is method={self.method_name} model={self.backbone_name}")
        stored = manifest["components"]
        if self.retrain_request is None:
            retrain = {ROUTER} | {n for n in names if n not in stored}
        else:
            retrain = {self._normalize(n) for n in self.retrain_request}
            missing = sorted(n for n in retrain if n not in names)
            if missing:
                raise ValueError(f"method.retrain: {missing} have no training pairs in this run's data; "
                                 "give the domain's data (dataset.domains.<domain>.path=FILE)")
        for name in [n for n in stored if n not in names and n not in self.shared_names()]:
            log.warning("stored component %s is not used: its domain has no training pairs in this run", name)
        self.reused = []
        for name in self.shared_names() + names:
            if name in retrain:
                continue
            if name not in stored:
                if name in self.shared_names():
                    continue
                raise ValueError(f"{name} is neither stored in {folder} nor listed in method.retrain")
            state = torch.load(folder / stored[name], map_location="cpu", weights_only=True)
            self.load_component_state(name, state)
            self.freeze_component(name)
            self.reused.append(name)
        self.to_train = retrain & set(names)

    def shared_names(self) -> list[str]:
        """Components shared by all others (ARLISS's backbone); stored when they cannot be rebuilt."""
        return []

    def run_training(self, make_trainer, data: PairData) -> dict[str, float]:
        by_component: dict[str, float] = {}
        root = None
        base_seed = torch.initial_seed()
        for index, name in enumerate(self.stored_names()):
            if name not in self.to_train:
                continue
            # each component from its own seed: the same whichever components ran before it (a
            # resumed run that skips finished components trains the rest exactly as before)
            pl.seed_everything((base_seed + 1000 * (index + 1)) % 2**32, workers=True, verbose=False)
            if name == ROUTER:
                fit, part = self.router_fit(), data.subset(self.covered)
            else:
                domain = name[len(PREFIX):]
                fit, part = self.reward_fit(domain), data.subset([domain])
            if not len(part):
                continue
            trainer = make_trainer(monitor=fit.monitor, component=name)
            root = trainer.default_root_dir
            timers = [cb for cb in trainer.callbacks if isinstance(getattr(cb, "per_epoch", None), list)]
            seen = len(timers[0].per_epoch) if timers else 0
            start = clock(self.device)
            trainer.fit(fit, datamodule=part)
            by_component[name] = clock(self.device) - start
            epochs = timers[0].per_epoch[seen:] if timers else []
            # pure epoch time (the fit's wall time also holds Lightning's per-fit setup)
            self.epoch_seconds[name] = (sum(epochs) / len(epochs) if epochs
                                        else by_component[name] / max(1, trainer.current_epoch))
            if self.save_components and is_main_process():  # stored as soon as it is done: a resume skips it
                self.save(Path(root) / "components", [name])
        self.after_training()
        if self.save_components and root is not None and is_main_process():
            self.save(Path(root) / "components")
        return by_component

    def resume_from(self, run_dir) -> None:
        """Components a killed run finished (stored in RUN_DIR/components) are loaded, not retrained."""
        folder = Path(run_dir) / "components"
        if not (folder / MANIFEST).exists():
            return
        stored = json.loads((folder / MANIFEST).read_text())["components"]
        for name in [n for n in self.stored_names() if n in self.to_train and n in stored]:
            self.load_component_state(name, torch.load(folder / stored[name], map_location="cpu", weights_only=True))
            self.to_train.discard(name)
            self.resumed.append(name)
            log.info("resume: %s was finished before the interruption; loaded from %s", name, folder)

    def after_training(self) -> None:
        """Restore the module's state after the component fits (ARLISS re-activates adapters)."""

    def save(self, folder: Path, names: list[str] | None = None) -> Path:
        """Store components (all of them by default) and the manifest listing every stored one."""
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        if names is not None and (folder / MANIFEST).exists():
            files = dict(json.loads((folder / MANIFEST).read_text())["components"])
        for name in names if names is not None else self.shared_names() + self.stored_names():
            state = self.component_state(name)
            if state is None:
                continue
            files[name] = component_file(name)
            with atomic_path(folder / files[name]) as tmp:
                torch.save({k: v.detach().cpu() for k, v in state.items()}, tmp)
        manifest = {"method": self.method_name, "model": self.backbone_name, "domains": self.domains,
                    "covered": self.covered, "components": files}
        write_json_atomic(folder / MANIFEST, manifest)
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
        out = {"router": router,
               "components": {"trained": sorted(self.to_train), "reused": list(self.reused),
                              "reused_from": self.reuse_components, "stored_in": self.components_dir,
                              "resumed": list(self.resumed),
                              "epoch_s": dict(self.epoch_seconds)}}
        if self.oracle:
            out["oracle_accuracy"] = self.oracle_accuracy.compute()
        return out

    def summary_lines(self, results: dict) -> list[str]:
        lines = []
        router = results.get("router") or {}
        if router:
            lines.append(f"router accuracy {_fmt(router.get('accuracy'))} over {router.get('n')} test pairs; covers "
                         f"{', '.join(router.get('covered_domains', []))}"
                         + (f" (no training pairs: {', '.join(router['uncovered_domains'])})"
                            if router.get("uncovered_domains") else ""))
            labels = (router.get("confusion") or {}).get("labels", [])
            if labels:
                lines.append("| gold \\ routed | " + " | ".join(labels) + " |")
                lines.append("| --- |" + " ---: |" * len(labels))
                lines.extend(f"| {g} | " + " | ".join(str(c) for c in row) + " |"
                             for g, row in zip(labels, router["confusion"]["matrix"]))
        oracle = results.get("oracle_accuracy")
        if oracle:
            lines.append(f"accuracy with oracle (gold) routing: {_fmt(oracle.get('average'))}")
        components = results.get("components") or {}
        if components.get("reused"):
            lines.append(f"reused from {components.get('reused_from')}: {', '.join(components['reused'])}; "
                         f"trained: {', '.join(components.get('trained', []))}")
        return lines


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"
