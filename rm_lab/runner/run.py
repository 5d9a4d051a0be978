"""The runner: config -> data -> model -> method -> trainer -> eval -> results.json.

    python -m rm_lab                                  # Baseline, packaged MiniLM, bundled samples, CPU
    python -m rm_lab -m seed=0,1,2                    # a seed sweep into multirun/
    python -m rm_lab model=tiny-deberta logger=wandb  # W&B (offline by default; `wandb sync` later)
    python -m rm_lab train=false ckpt=RUN_DIR dataset=hh_rlhf_sample   # a trained run's model on other data
    python -m rm_lab --help                           # config groups and their choices

Everything is built by rm_lab/runner/build.py; this module only runs it and records the outcome,
in named stages, each taking what the one before returned:

    plan      checks before any work (every value in range, runs_with, test_on, the ckpt= run, callbacks,
              log_model); the folder's lock (one live run per folder); a completed run in the folder is
              refused, or returned as it is with resume=true; a resume's config against the interrupted
              run's; the run's plan said (rm_lab/runner/preflight.py: backbone, data sources, recipe, memory)
    start     the "running" results.json, written before any work (a killed run still shows as running);
              then the plan's check: CannotStart (data, weights or memory cannot be had) fails the run here
    load      the pairs, tokenized (results: data)
    inputs    what the method reads: the datamodule, or its pairs embedded (results: the data step's blocks)
    build     the method, prepared for the data, ckpt= weights loaded (results: params, labels)
    fit       the method's fits, each selected on validation (results: validation)
    evaluate  the test set scored; a single fit's tested weights stored (results: accuracy, train_time, ...)
    finish    results.json written with the status and wall time, published to the loggers (first
              process, completed runs), loggers closed
    report    the accuracy table on the terminal

A stage that fails leaves the blocks of the stages before it, the status "failed", the error
and its traceback in results.json (a dataset without pairs keeps its counts in `data`; a
results write that fails is retried as "failed" with the reason). The lock is held until the
run ends. Every path in the run's folder comes from `RunDir`.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from rm_lab.core.checks import check_runner
from rm_lab.core.errors import ConfigValueError, NoPairsError, RunWriteError
from rm_lab.core.io import is_main_process
from rm_lab.core.safe_config import UnsafeTargetError
from rm_lab.core.safe_weights import load_weights
from rm_lab.data.datamodule import PreferenceDataModule
from rm_lab.data.protocol import PairData
from rm_lab.eval.best_weights import BestWeights
from rm_lab.eval.memory import PeakMemory
from rm_lab.eval.params import count_components
from rm_lab.eval.rewardbench import score_results
from rm_lab.eval.rewardbench2 import score_pairs
from rm_lab.eval.summary import accuracy_table
from rm_lab.eval.timing import EpochTimer, clock
from rm_lab.methods.base import RewardModule
from rm_lab.models.backbone import Backbone
from rm_lab.rundir.finished import (
    ModelLoadError,
    completed_results,
    finished_run,
    run_config,
    run_folder,
    stored_weights,
)
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.lock import RunLock
from rm_lab.rundir.publish import close_loggers, publish
from rm_lab.rundir.results import Results, add_blocks, new_results, read_results, write_results
from rm_lab.runner.build import (
    build_data,
    build_inputs,
    build_loggers,
    build_method,
    build_trainer,
    stores_whole,
)
from rm_lab.runner.callbacks import callback_nodes
from rm_lab.runner.checkpoints import LastCheckpoint, save_checkpoint
from rm_lab.runner.debug import debug_name
from rm_lab.runner.model_upload import check_log_model
from rm_lab.runner.preflight import Preflight, preflight, remember_counts
from rm_lab.runner.resume_check import check_resume

log = logging.getLogger("rm_lab")


# -- the pieces the stages use ----------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """Validation selection for one fit: `best` (None without a monitored metric) and the callbacks."""

    best: BestWeights | None = None
    callbacks: list = field(default_factory=list)


def selection_callbacks(cfg: DictConfig, monitor: str | None, component: str | None) -> Selection:
    """Validation selection for one fit: the best epoch's weights (test_on: best) and, with
    `early_stopping: N`, a stop after N epochs without a better validation accuracy."""
    if not monitor:
        return Selection()
    best = BestWeights(monitor, restore=cfg.test_on == "best", component=component)
    if not cfg.get("early_stopping"):
        return Selection(best, [best])
    from pytorch_lightning.callbacks import EarlyStopping

    return Selection(best, [best, EarlyStopping(monitor=monitor, mode="max", patience=int(cfg.early_stopping),
                                                strict=False)])


def validation_block(cfg: DictConfig, module, selectors: list[BestWeights]) -> dict:
    block: dict = {"test_on": cfg.test_on, "per_epoch": list(module.validation_epochs)}
    if len(selectors) == 1:
        block.update(best_epoch=selectors[0].best_epoch, best_accuracy=selectors[0].best)
    else:
        block.update(best_epoch=None, best_accuracy=None)
    block["by_component"] = {b.component or b.monitor: b.summary() for b in selectors}
    return block


def checkpoint_callbacks(cfg: DictConfig, run_dir: RunDir, component: str | None,
                         whole: bool) -> tuple[list, Path | None]:
    """The checkpoint a fit writes as it goes (and resumes from with resume=true); `whole`: the
    fit trains the whole method (the run's last checkpoint), else one of its parts (the part's)."""
    if not component or not (cfg.get("checkpoint") or {}).get("last", True):
        return [], None
    path = run_dir.last_checkpoint(None if whole else component)
    every = (cfg.get("checkpoint") or {}).get("every_n_steps")
    return [LastCheckpoint(path, every)], path if cfg.get("resume") else None


class TrainerFactory:
    """The `make_trainer(monitor=..., component=..., **overrides)` a method's `run_training`
    calls: a fresh Lightning Trainer per fit, with the run's loggers, the epoch timer, validation
    selection on `monitor` and the fit's resume checkpoint. `selectors`: the selection of every
    fit it made, in order."""

    def __init__(self, cfg: DictConfig, loggers: list, timer: EpochTimer, run_dir: RunDir, whole: bool):
        self.cfg, self.loggers, self.timer, self.run_dir, self.whole = cfg, loggers, timer, run_dir, whole
        self.selectors: list[BestWeights] = []

    def __call__(self, monitor: str | None = None, component: str | None = None, **overrides) -> pl.Trainer:
        selection = selection_callbacks(self.cfg, monitor, component)
        if selection.best is not None:
            self.selectors.append(selection.best)
        saving, resume_from = checkpoint_callbacks(self.cfg, self.run_dir, component, self.whole)
        self.timer.component = component or "reward_model"  # the part this fit's epochs train
        callbacks = [self.timer, *selection.callbacks, *saving]
        return build_trainer(self.cfg, self.loggers, callbacks, resume_from=resume_from, component=component,
                             **overrides)


def checkpoint_run(cfg: DictConfig) -> Path | None:
    """With `ckpt=RUN_DIR`: the stored run whose trained weights this run tests, checked before
    any work (train=false, a completed run of the same method and model, its weights present)."""
    ckpt = cfg.get("ckpt")
    if not ckpt:
        return None
    try:
        run_dir = run_folder(ckpt)
        stored = completed_results(run_dir)
        if (stored.get("method"), stored.get("model")) != (cfg.method.name, cfg.model.name):
            raise ModelLoadError(f"it holds a method={stored.get('method')} model={stored.get('model')} run; this "
                                 f"run is method={cfg.method.name} model={cfg.model.name}: add method=... "
                                 "model=... to match the stored run")
        # a target rm_lab does not build is refused before any is loaded (UnsafeTargetError)
        run_cfg = run_config(stored, RunDir(run_dir).results) if (stored.get("config") or {}).get("method") else cfg
        stored_weights(run_dir, run_cfg, stored, whole=stores_whole(run_cfg.method))
    except (ModelLoadError, UnsafeTargetError, FileNotFoundError) as err:
        raise ConfigValueError(f"ckpt={ckpt}: {err}") from None
    return run_dir


def load_checkpoint_run(module, run_dir: Path) -> None:
    """The stored run's tested weights (its best checkpoint) into a single-fit method."""
    state = load_weights(RunDir(run_dir).best_checkpoint)["state_dict"]
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"ckpt={run_dir}: its weights do not fit the method built for this run (give it the "
                         f"stored run's method options, e.g. method.num_experts, method.lora): {err}") from err


class Record:
    """The run's results.json as the stages fill it; written by the first process only."""

    def __init__(self, results: Results, run_dir: RunDir, main: bool):
        self.results, self.run_dir, self.main = results, run_dir, main
        self.started = time.perf_counter()

    @property
    def completed(self) -> bool:
        return self.results["status"] == "completed"

    def add(self, **blocks) -> None:
        """The runner's own (core) blocks, in the order given."""
        self.results.update(blocks)

    def add_own(self, blocks: dict) -> None:
        """A method's or the data step's own blocks (never over a core key or a block already there)."""
        add_blocks(self.results, blocks)

    def complete(self) -> None:
        self.results["status"] = "completed"

    def fail(self, err: BaseException) -> None:
        """Status failed, with the error and the traceback (call it while handling `err`)."""
        self.results["status"] = "failed"
        self.results["error"] = f"{type(err).__name__}: {err}"
        self.results["traceback"] = traceback.format_exc()

    def write(self) -> None:
        if not self.main:
            return
        try:
            write_results(self.run_dir.root, self.results)
        except OSError as err:  # the temporary file is gone already (rm_lab/core/io.py)
            raise RunWriteError(f"could not write {self.run_dir.results}: {err.strerror or err}; free space or "
                                "fix the folder, then resume=true continues from the last checkpoint") from err


# -- the stages -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """What is known before any work: the config, the run's folder, the run whose weights are
    tested (ckpt=), whether this is the first process, and the run already completed there (resume)."""

    cfg: DictConfig
    run_dir: RunDir
    ckpt: Path | None
    main: bool
    done: Results | None = None
    said: Preflight | None = None  # the run's plan, printed; its check() is the first step of the work
    lock: RunLock | None = None    # held by the first process until the run ends


def check_resume_config(cfg: DictConfig, run_dir: RunDir) -> None:
    """resume=true into a folder with checkpoints of an interrupted attempt: its training config
    must be that attempt's (rm_lab/runner/resume_check.py), unless resume_accept_changes=true."""
    if not cfg.get("resume") or not (run_dir.checkpoints.exists() or run_dir.components.exists()):
        return
    try:
        stored = read_results(run_dir.results).get("config") or {}
    except (OSError, ValueError):
        return  # no readable record of the attempt: nothing to compare with
    accepted = check_resume(stored, OmegaConf.to_container(cfg, resolve=True),
                            bool(cfg.get("resume_accept_changes")), str(run_dir.root))
    if accepted:
        log.warning("resuming with a changed config (resume_accept_changes=true): %s", "; ".join(accepted))


def plan(cfg: DictConfig) -> Plan:
    """Checks before any work; `done`: the completed run already in the folder (resume=true)."""
    check_runner(cfg)
    ckpt = checkpoint_run(cfg)
    callback_nodes(cfg)  # a configured callback that is not a _target_ node fails before any work
    check_log_model(cfg)
    run_dir, main = RunDir(cfg.paths.output_dir), is_main_process()
    if not main:
        return Plan(cfg, run_dir, ckpt, main)
    lock = RunLock(run_dir).acquire()
    try:
        done = finished_run(run_dir.results, bool(cfg.get("resume")))
        said = None
        if done is None:
            check_resume_config(cfg, run_dir)
            said = preflight(cfg)
            print(said.text(), flush=True)
    except BaseException:
        lock.release()
        raise
    return Plan(cfg, run_dir, ckpt, main, done, said, lock)


def start(planned: Plan) -> Record:
    """The "running" record, written before any work."""
    planned.run_dir.root.mkdir(parents=True, exist_ok=True)
    results = new_results(planned.cfg)
    if debug := debug_name(planned.cfg):
        results["debug"] = debug  # reports skip it
    if planned.ckpt is not None:
        results["ckpt"] = str(planned.ckpt)
    record = Record(results, planned.run_dir, planned.main)
    record.write()  # a killed run still shows as "running"
    return record


@dataclass(frozen=True)
class Loaded:
    datamodule: PreferenceDataModule
    backbone: Backbone
    counts: dict


def load(planned: Plan) -> Loaded:
    """The pairs loaded and tokenized, and the backbone factory; `counts`: results.json `data`."""
    pl.seed_everything(planned.cfg.seed, workers=True)
    datamodule, backbone = build_data(planned.cfg)
    return Loaded(datamodule, backbone, datamodule.counts())


@dataclass(frozen=True)
class Inputs:
    data: PairData  # what the method trains on: the datamodule, or its cached vectors
    figures: dict   # the data step's own results blocks (embedding)


def inputs(planned: Plan, loaded: Loaded) -> Inputs:
    """What the method reads: the datamodule itself, or its pairs embedded once (vector methods)."""
    data = build_inputs(planned.cfg, loaded.datamodule, loaded.backbone)
    return Inputs(data, data.figures())


@dataclass(frozen=True)
class Built:
    data: PairData
    module: RewardModule

    def blocks(self) -> dict:
        """The method's core blocks: parameter counts and labels."""
        return {"params": count_components(self.module.components()),
                "labels": {"method": self.module.label, "components": self.module.component_labels()}}


def build(planned: Plan, loaded: Loaded, given: Inputs) -> Built:
    """The method, prepared for the data; with ckpt=, holding the stored run's tested weights."""
    cfg, data = planned.cfg, given.data
    pl.seed_everything(cfg.seed, workers=True)
    # prepare() may drop components (routers cover only domains with training pairs)
    method_node, whole = cfg.method, stores_whole(cfg.method)
    if planned.ckpt is not None and not whole:  # composites load every stored component, train none
        method_node = OmegaConf.merge(cfg.method, {"reuse_components": str(planned.ckpt), "retrain": [],
                                                   "save_components": False})
    module = build_method(method_node, data=data, backbone=loaded.backbone, domains=data.domain_names)
    if planned.ckpt is not None and whole:
        load_checkpoint_run(module, planned.ckpt)
    module.set_inference_samples(inference_samples(cfg))
    return Built(data, module)


def inference_samples(cfg: DictConfig) -> int:
    """`inference_samples`: test pairs timed one at a time (Table 6), an integer >= 1."""
    n = cfg.get("inference_samples", 32)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"inference_samples={n}: give a whole number of test pairs >= 1 (default 32; "
                         "the router paper's Table 6: 2500)")
    return n


def open_loggers(cfg: DictConfig, config: dict) -> list:
    """The run's loggers, given the resolved config as hyperparameters."""
    loggers = build_loggers(cfg)
    for lg in loggers:
        lg.log_hyperparams(config)
    return loggers


@dataclass(frozen=True)
class Fitted:
    by_component: dict[str, float]  # wall seconds of each fit ({} when nothing was trained)
    total_s: float
    timer: EpochTimer
    trainers: TrainerFactory
    validation: dict
    peak_bytes: int | None = None  # the most memory the fits held (rm_lab/eval/memory.py)


def fit_device(cfg: DictConfig) -> torch.device:
    """Where the fits train: the GPU for a GPU trainer (the module is moved there by the fit), else the CPU."""
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    gpu = accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    return torch.device("cuda") if gpu else torch.device("cpu")


def fit(planned: Plan, built: Built, loggers: list) -> Fitted:
    """The method's fits (resume=true: from where an interrupted attempt stopped), each selected
    on its validation pairs; `validation`: results.json `validation`."""
    cfg, module, data = planned.cfg, built.module, built.data
    timer = EpochTimer()
    trainers = TrainerFactory(cfg, loggers, timer, planned.run_dir, module.checkpoint_whole)
    if cfg.get("resume"):
        module.resume_from(planned.run_dir.root)
    by_component: dict[str, float] = {}
    peak = None
    start_s = clock(module.device)
    if cfg.train and data.num_pairs("train"):
        with PeakMemory(fit_device(cfg)) as watch:
            by_component = module.run_training(trainers, data)
        peak = watch.bytes
    total = clock(module.device) - start_s
    return Fitted(by_component, total, timer, trainers, validation_block(cfg, module, trainers.selectors), peak)


@dataclass(frozen=True)
class Tested:
    accuracy: dict
    processes: int


def evaluate(planned: Plan, built: Built, fitted: Fitted) -> Tested:
    """The test set scored; a single-fit method that trained stores the weights it was scored with."""
    module = built.module
    trainer = fitted.trainers()
    trainer.test(module, datamodule=built.data, verbose=False)
    if fitted.by_component and (planned.cfg.get("checkpoint") or {}).get("best") and module.checkpoint_whole:
        save_checkpoint(trainer, planned.run_dir.best_checkpoint, weights_only=True)  # the weights that were tested
    return Tested(module.test_results, trainer.world_size)


def outcome(built: Built, fitted: Fitted, tested: Tested) -> dict:
    """The completed run's core blocks after the test: accuracy (and RewardBench sections), times, processes."""
    blocks: dict = {"accuracy": tested.accuracy}
    if rewardbench := score_results(tested.accuracy):  # RewardBench subsets -> sections
        blocks["rewardbench"] = rewardbench
    if rewardbench2 := score_pairs(built.module.test_pair_rewards):  # RewardBench 2 pairs -> rows -> subsets
        blocks["rewardbench2"] = rewardbench2
    timer = fitted.timer
    # pairs actually trained (an epoch that max_steps or a time limit cut short counts its batches),
    # counted by each process on its own batches; epochs of an older checkpoint count whole
    counted = timer.pairs_per_epoch[-len(timer.per_epoch):] if timer.per_epoch else []
    whole = built.data.num_pairs("train") * (len(timer.per_epoch) - len(counted))
    train_pairs = sum(counted) * tested.processes + whole
    single_fit = len(fitted.by_component) <= 1  # composite methods fit components on parts of the data
    epoch_s, validation_s = timer.by_component()
    blocks["train_time"] = {"total_s": fitted.total_s, "per_epoch_s": timer.per_epoch,
                            "validation_s": timer.validation_per_epoch, "by_component": fitted.by_component,
                            "epoch_s_by_component": epoch_s, "validation_s_by_component": validation_s,
                            "pairs_trained": train_pairs if single_fit else None,
                            "pairs_per_s": train_pairs / sum(timer.per_epoch)
                            if timer.per_epoch and single_fit else None}
    if fitted.peak_bytes is not None:
        blocks["train_time"]["peak_memory_bytes"] = fitted.peak_bytes
    if timer.first_step_s is not None:
        blocks["train_time"]["first_step_s"] = timer.first_step_s
    if timer.first_batch_s is not None:
        blocks["train_time"]["first_batch_s"] = timer.first_batch_s
    blocks["inference"] = built.module.inference.summary()
    blocks["processes"] = tested.processes
    return blocks


def finish(record: Record, loggers: list) -> None:
    """results.json written with the wall time; a completed run published (first process); loggers
    closed. A write that fails is retried as "failed" with the reason, and raises."""
    record.add(wall_time_s=time.perf_counter() - record.started)
    try:
        record.write()
    except RunWriteError as err:
        record.fail(err)
        try:
            record.write()
        except RunWriteError:
            log.error("%s could not be written even as failed: it still says %r", record.run_dir.results, "running")
        close_loggers(loggers, "failed")
        raise
    if record.main and record.completed:
        publish(loggers, record.results)
    close_loggers(loggers, "success" if record.completed else "failed")


def report(planned: Plan, results: Results, module) -> None:
    """The accuracy table, with the method's own lines, on the terminal (first process)."""
    if planned.main:
        print(accuracy_table(results, module.summary_lines(results)), flush=True)
        log.info("results written to %s", planned.run_dir.results)


def run(cfg: DictConfig) -> Results:
    """Train and evaluate one configured run; always leaves a results.json behind (written by
    the first process only, in a multi-process run)."""
    planned = plan(cfg)
    try:
        if planned.done is not None:
            return planned.done
        return run_planned(planned)
    finally:
        if planned.lock is not None:
            planned.lock.release()


def run_planned(planned: Plan) -> Results:
    """The stages after plan, in the folder this process holds."""
    cfg = planned.cfg
    record = start(planned)
    loggers: list = []
    try:
        if planned.said is not None:
            planned.said.check()  # CannotStart: recorded as failed, before any work
        loaded = load(planned)
        record.add(data=loaded.counts)
        if planned.main:
            remember_counts(cfg.dataset, loaded.counts)  # the next plan says them
        given = inputs(planned, loaded)
        record.add_own(given.figures)
        built = build(planned, loaded, given)
        record.add(**built.blocks())
        loggers = open_loggers(cfg, record.results["config"])
        fitted = fit(planned, built, loggers)
        record.add(validation=fitted.validation)
        record.add(**outcome(built, fitted, evaluate(planned, built, fitted)))
        record.add_own(built.module.extra_results())
        record.complete()
    except BaseException as err:
        if isinstance(err, NoPairsError):
            record.add(data=err.counts)  # the drop counts by reason, kept
        record.fail(err)
        raise
    finally:
        finish(record, loggers)
    report(planned, record.results, built.module)
    return record.results
