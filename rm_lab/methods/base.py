"""What every reward-model method shares: Bradley-Terry training and pairwise evaluation.

A method subclasses `RewardModule` and implements `score(batch)`, returning one reward per
row of `batch["input_ids"]` (the batch's chosen texts, then its rejected texts). A method owns
its figures: `extra_results()` (its own results.json blocks), `summary_lines(results)` (lines
under the run's accuracy table), `label` and `component_labels()` (how reports name it and its
parts). Methods with several parts override `components()` so parameters are counted by
component, and `run_training()` to fit them one by one. `inputs = "vectors"` asks the builder
for cached embeddings instead of token batches. Nothing else needs editing to add a method:
one .py here and one .yaml under conf/method/.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import Metric

from rm_lab.data.batch import Batch, select_pairs, split_rewards
from rm_lab.data.domains.rewardbench2 import PREFIX as RB2_PREFIX
from rm_lab.data.protocol import PairData
from rm_lab.eval.metrics import PairwiseAccuracy
from rm_lab.eval.timing import InferenceClock, clock
from rm_lab.methods.capabilities import NONE
from rm_lab.methods.optim import build_optimizers
from rm_lab.models.losses import bradley_terry_losses, center_rewards_penalty

PairLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
VAL_MONITOR = "val/accuracy/average"  # what single-fit methods are selected on


def adamw_with_warmup(parameters, lr: float, weight_decay: float = 0.0, warmup_steps: int = 0):
    """The default optimizer and schedule (AdamW, linear warm-up then constant) without a run's
    choice; fits build theirs with `rm_lab.methods.optim.build_optimizers(self, ...)`."""
    return build_optimizers(None, parameters, lr, weight_decay, warmup_steps)


LOSS_OPTIONS = ("center_rewards_coefficient", "use_margin")  # method keys every pairwise fit takes


def check_loss_options(center_rewards_coefficient: float | None = None, use_margin: bool = False) -> dict:
    """The loss options, validated: `center_rewards_coefficient` null or a number >= 0 (0: off),
    `use_margin` a boolean."""
    coefficient = 0.0 if center_rewards_coefficient is None else center_rewards_coefficient
    if isinstance(coefficient, bool) or not isinstance(coefficient, (int, float)) or not coefficient >= 0:
        raise ValueError("method.center_rewards_coefficient must be null or a number >= 0, "
                         f"got {center_rewards_coefficient!r}")
    if not isinstance(use_margin, bool):
        raise ValueError(f"method.use_margin must be true or false, got {use_margin!r}")
    return {"center_rewards_coefficient": float(coefficient), "use_margin": use_margin}


class PairwiseLossOptions:
    """The loss options `pairwise_step` reads from the module it trains (RewardModule and the
    component fits); `set_loss_options` is how the builder applies `method.<option>`."""

    center_rewards_coefficient: float = 0.0
    use_margin: bool = False

    def set_loss_options(self, center_rewards_coefficient: float | None = None, use_margin: bool = False) -> None:
        for name, value in check_loss_options(center_rewards_coefficient, use_margin).items():
            setattr(self, name, value)

    def loss_options(self) -> dict:
        return {name: getattr(self, name) for name in LOSS_OPTIONS}


def pair_objective(chosen: torch.Tensor, rejected: torch.Tensor, pair_loss: PairLoss = bradley_terry_losses,
                   weights: torch.Tensor | None = None, margin: torch.Tensor | None = None,
                   center_rewards_coefficient: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The pairwise objective on split rewards (B,) or (K, B): (objective, logged loss, terms).

    Each head's loss is its mean pair loss (weighted by `weights`, bootstrap resamples), with
    `margin` (B,) given the Bradley-Terry loss is -log sigmoid(r_c - r_r - margin) (NaN: no margin),
    plus `center_rewards_coefficient * mean((r_c + r_r)^2)` when the coefficient is > 0. The
    objective sums the heads' losses, the logged loss is their mean; terms: {"pair_loss",
    "center_loss"} (the centering term as added to the loss), means over heads.
    """
    if margin is None:
        losses = pair_loss(chosen, rejected)
    elif pair_loss is bradley_terry_losses:
        losses = pair_loss(chosen, rejected, margin)
    else:
        raise ValueError("a pair margin (method.use_margin) needs the Bradley-Terry loss")
    if weights is None:
        per_head = losses.mean(-1)
    else:
        weights = weights.to(losses)
        per_head = (losses * weights).sum(-1) / weights.sum(-1).clamp(min=1.0)
    terms = {"pair_loss": per_head.mean()}
    if center_rewards_coefficient:
        center = center_rewards_coefficient * center_rewards_penalty(chosen, rejected)
        terms["center_loss"] = center.mean()
        per_head = per_head + center
    return per_head.sum(), per_head.mean(), terms


def pairwise_step(module: pl.LightningModule, rewards: torch.Tensor, prefix: str = "train",
                  pair_loss: PairLoss = bradley_terry_losses, weights: torch.Tensor | None = None,
                  extra: dict[str, tuple[torch.Tensor, float]] | None = None,
                  margin: torch.Tensor | None = None) -> torch.Tensor:
    """The training step of every pairwise reward model, with its logging.

    rewards: (2B,) chosen rows then rejected rows, or (K, 2B) for K heads trained at once.
    weights: optional per-pair weights of the same shape as a half (bootstrap resamples).
    extra: {name: (loss, weight)} added to the objective and logged (MoRE's balancing loss).
    margin: the batch's per-pair margins (B,) (`PairBatch["margin"]`, NaN where a pair has
    none); used only when the module's `use_margin` is set.
    The module's loss options (`PairwiseLossOptions`): `center_rewards_coefficient` > 0 adds
    the reward-centering term, `use_margin` the margin (see `pair_objective`).
    Logs `<prefix>/loss` (the mean pair loss, plus extras and centering), `<prefix>/accuracy`,
    `<prefix>/pair_loss` and one `<prefix>/<name>` per extra when there are any,
    `<prefix>/center_loss` when centering is on, and the batch's reward statistics:
    `<prefix>/reward_mean` and `<prefix>/reward_std` (over its chosen and rejected rewards, all
    heads; population std) and `<prefix>/reward_margin` (mean r_chosen - r_rejected). Returns
    the objective (each head's loss, summed).
    """
    chosen, rejected = split_rewards(rewards)
    use_margin = getattr(module, "use_margin", False)
    coefficient = getattr(module, "center_rewards_coefficient", 0.0) or 0.0
    objective, logged, terms = pair_objective(chosen, rejected, pair_loss, weights,
                                              margin if use_margin else None, coefficient)
    n = chosen.shape[-1]
    if extra or coefficient:
        module.log(f"{prefix}/pair_loss", terms["pair_loss"], batch_size=n)
    if coefficient:
        module.log(f"{prefix}/center_loss", terms["center_loss"], batch_size=n)
    for name, (value, weight) in (extra or {}).items():
        objective = objective + weight * value
        logged = logged + weight * value
        module.log(f"{prefix}/{name}", value, batch_size=n)
    module.log(f"{prefix}/loss", logged, prog_bar=True, batch_size=n)
    module.log(f"{prefix}/accuracy", (chosen > rejected).float().mean(), batch_size=n)
    with torch.no_grad():
        both = torch.cat([chosen, rejected], -1).float()
        module.log(f"{prefix}/reward_mean", both.mean(), batch_size=n)
        module.log(f"{prefix}/reward_std", both.std(correction=0), batch_size=n)
        module.log(f"{prefix}/reward_margin", (chosen.float() - rejected.float()).mean(), batch_size=n)
    return objective


def log_grad_norm(module: pl.LightningModule, name: str = "train/grad_norm") -> None:
    """The total L2 norm of the module's gradients (before clipping), logged as `name`; called
    from `on_before_optimizer_step`. One foreach pass over the gradients (Lightning's `grad_norm`
    takes one norm per parameter and turns each into a Python float, ~1% of a MiniLM step on a CPU)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if grads:
        module.log(name, torch.nn.utils.get_total_norm(grads, norm_type=2.0))


def sync_counters(module: pl.LightningModule, counters: dict) -> None:
    """Sum counters over processes; a no-op in a single process. Each pair then counts once,
    whichever process scored it. A torchmetrics `Metric` (the pairwise accuracy) is gathered and
    summed by its own `sync()` (it holds the sums until its next `reset()`); other counters
    (objects with `state()`/`load()`) through the strategy's reduce."""
    trainer = module._trainer
    if trainer is None or trainer.world_size <= 1:
        return
    for counter in counters.values():
        if isinstance(counter, Metric):
            counter.to(module.device).sync(should_sync=True)
        else:
            counter.load(trainer.strategy.reduce(counter.state().to(module.device), reduce_op="sum"))


class RewardModule(PairwiseLossOptions, pl.LightningModule):
    label = "Reward model"  # a report's row label; methods set their own
    inputs = "tokens"       # "tokens" (PairBatch) or "vectors" (VectorBatch of cached embeddings)
    checkpoint_whole = True  # checkpoints/best.ckpt holds the tested weights; composites store components
    capabilities = NONE      # what the method can do (rm_lab/methods/capabilities.py): each method declares its own

    def __init__(self, domains: list[str], lr: float = 2e-5, weight_decay: float = 0.0,
                 warmup_steps: int = 0, center_rewards_coefficient: float | None = None,
                 use_margin: bool = False):
        super().__init__()
        self.domains = list(domains)
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.set_loss_options(center_rewards_coefficient, use_margin)  # the builder sets method.<option>
        self.test_accuracy = PairwiseAccuracy(self.domains)
        self.val_accuracy = PairwiseAccuracy(self.domains)
        self.validation_epochs: list[dict] = []  # per-domain validation accuracy, one entry per pass
        self.inference = InferenceClock()
        self.test_results: dict | None = None
        self.test_pair_rewards: dict[str, tuple[float, float]] = {}  # RewardBench 2 pairs: scored per row

    # -- to implement ------------------------------------------------------------------------
    def score(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def components(self) -> dict[str, nn.Module]:
        return {"reward_model": self}

    def prepare(self, data: PairData) -> None:
        """Called once the data is built, before training: a method that depends on the data
        (routers cover the domains with training pairs, bootstrap weights need the train
        size) reads it here, through the `PairData` protocol only."""

    def run_training(self, make_trainer, data: PairData) -> dict[str, float]:
        """Train, returning wall seconds by component. `make_trainer(monitor=..., component=...)`
        gives a fresh Lightning Trainer from the run's config (loggers, timers and validation
        selection on the `monitor` metric attached); composite methods call it once per
        component. The default is one fit of the whole module, selected on `val/accuracy/average`."""
        start = clock(self.device)
        make_trainer(monitor=VAL_MONITOR, component="reward_model").fit(self, datamodule=data)
        return {"reward_model": clock(self.device) - start}

    def resume_from(self, run_dir) -> None:
        """Called on `resume=true` before training: a composite method takes the components a
        killed run already finished from `run_dir` and trains only the others (a fit that was
        interrupted continues from its own checkpoint either way)."""

    # -- the method's figures -----------------------------------------------------------------
    def extra_results(self) -> dict:
        """Method-specific top-level blocks of results.json (router accuracy, expert load, ...)."""
        return {}

    def summary_lines(self, results: dict) -> list[str]:
        """Lines printed under the run's accuracy table, from this method's own results blocks."""
        return []

    def component_labels(self) -> dict[str, str]:
        """How reports name the parts this method trains (the keys of `run_training()`'s
        result); a part trained per domain is `<part>/<domain>` and labelled by its part."""
        return {"reward_model": "RM"}

    # -- training -----------------------------------------------------------------------------
    split_rewards = staticmethod(split_rewards)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return pairwise_step(self, self.score(batch), margin=batch.get("margin"))

    def configure_optimizers(self):
        """The run's optimizer (conf/optimizer, default AdamW) over the trainable parameters at
        `lr`, with its scheduler (conf/scheduler, default a linear warm-up of `warmup_steps`)."""
        return build_optimizers(self, self.parameters(), self.lr, self.weight_decay, self.warmup_steps)

    def on_before_optimizer_step(self, optimizer) -> None:
        log_grad_norm(self)

    # -- validation (one pass per epoch; selection in rm_lab.eval.best_weights) -------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["validation_epochs"] = list(self.validation_epochs)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.validation_epochs = list(checkpoint.get("validation_epochs", []))

    def on_validation_epoch_start(self) -> None:
        self.val_accuracy.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        chosen, rejected = self.split_rewards(self.score(batch))
        self.val_accuracy.update(chosen, rejected, batch["domain"])

    def on_validation_epoch_end(self) -> None:
        if self._trainer is not None and self.trainer.sanity_checking:
            return
        sync_counters(self, {"validation": self.val_accuracy})
        result = self.val_accuracy.compute()
        if result["average"] is None:
            return
        for name, row in result["per_domain"].items():
            self.log(f"val/accuracy/{name}", row["accuracy"])
        self.log(VAL_MONITOR, result["average"], prog_bar=True)
        self.log("val/loss", result["loss"])
        self.validation_epochs.append({"epoch": int(self.current_epoch), "average": result["average"],
                                       "loss": result["loss"], "n": result["n"],
                                       "per_domain": {d: r["accuracy"] for d, r in result["per_domain"].items()}})

    # -- evaluation ---------------------------------------------------------------------------
    def on_test_epoch_start(self) -> None:
        self.test_accuracy.reset()
        self.inference.reset()
        self.test_pair_rewards = {}

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self.time_single_inputs(batch)
        rewards = self.timed_score(batch)
        chosen, rejected = self.split_rewards(rewards)
        self.test_accuracy.update(chosen, rejected, batch["domain"])
        self.keep_row_rewards(batch["ids"], chosen, rejected)

    def keep_row_rewards(self, ids: list[str], chosen: torch.Tensor, rejected: torch.Tensor) -> None:
        """The rewards of RewardBench 2 pairs (scored per row, not per pair: rm_lab.eval.rewardbench2)."""
        keep = [k for k, pair in enumerate(ids) if pair.startswith(RB2_PREFIX)]
        if keep:
            c, r = chosen.detach().float().cpu().tolist(), rejected.detach().float().cpu().tolist()
            self.test_pair_rewards.update({ids[k]: (c[k], r[k]) for k in keep})

    def timed_score(self, batch: Batch) -> torch.Tensor:
        """score(batch), its time and inputs added to the batched inference clock."""
        start = clock(self.device)
        rewards = self.score(batch)
        self.inference.add(clock(self.device) - start, int(rewards.shape[-1]))
        return rewards

    def time_single_inputs(self, batch: Batch) -> None:
        """The per-input protocol: while the clock wants more, score some of this batch's pairs
        one by one (each pair's two texts), timed; the results are discarded. The pairs are
        spread over the test batches (as many from each as the clock needs over all of them,
        evenly spaced inside a batch), so a length-sorted test set is sampled at every length."""
        batches = self._test_batches()
        spread = -(-self.inference.per_input_pairs // batches) if batches else len(batch["ids"])
        wanted = min(self.inference.wants_single, len(batch["ids"]), spread)
        if not wanted:
            return
        picks = torch.linspace(0, len(batch["ids"]) - 1, wanted).round().long().tolist()
        with self.timing_only():
            for i in picks:
                single = select_pairs(batch, [i])
                start = clock(self.device)
                rewards = self.score(single)
                self.inference.add_single(clock(self.device) - start, int(rewards.shape[-1]))

    def _test_batches(self) -> int | None:
        """How many test batches this process scores (None outside a Lightning test loop)."""
        trainer = self._trainer
        counts = getattr(trainer, "num_test_batches", None) if trainer is not None else None
        total = sum(c for c in counts or [] if c != float("inf"))
        return int(total) or None

    def set_inference_samples(self, pairs: int) -> None:
        """How many test pairs the per-input protocol scores one at a time (every clock the method holds)."""
        for value in vars(self).values():
            if isinstance(value, InferenceClock):
                value.per_input_pairs = pairs

    @contextlib.contextmanager
    def timing_only(self):
        """Scoring inside this block is for timing only: methods restore any counters it moves."""
        yield

    def test_state(self) -> dict:
        """The test-time counters (objects with `state()` and `load()`) that make up this
        method's results; multi-process runs sum them over processes. Methods add theirs."""
        return {"accuracy": self.test_accuracy, "inference": self.inference}

    def on_test_epoch_end(self) -> None:
        sync_counters(self, self.test_state())
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1 and torch.distributed.is_initialized():
            gathered: list = [None] * trainer.world_size  # every process's RewardBench 2 pairs
            torch.distributed.all_gather_object(gathered, self.test_pair_rewards)
            self.test_pair_rewards = {k: v for part in gathered for k, v in (part or {}).items()}
        result = self.test_accuracy.compute()
        for name, row in result["per_domain"].items():
            self.log(f"test/accuracy/{name}", row["accuracy"])
            self.log(f"test/ties/{name}", float(row["tied"]))
        if result["average"] is not None:
            self.log("test/accuracy/average", result["average"])
            self.log("test/loss", result["loss"])
        self.test_results = result
