"""The runner: config -> data -> model -> method -> trainer -> eval -> results.json.

    python -m rm_lab                                  # Baseline, packaged MiniLM, bundled samples, CPU
    python -m rm_lab -m seed=0,1,2                    # a seed sweep into multirun/
    python -m rm_lab model=tiny-deberta logger=wandb  # W&B (offline by default; `wandb sync` later)
    python -m rm_lab train=false ckpt=RUN_DIR dataset=hh_rlhf_sample   # a trained run's model on other data
    python -m rm_lab --help                           # config groups and their choices

Everything is built by rm_lab/runner/build.py; this module only runs it and records the outcome.
"""
from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from rm_lab.core.io import is_main_process
from rm_lab.eval.best_weights import BestWeights
from rm_lab.eval.params import count_components
from rm_lab.eval.rewardbench import score_results
from rm_lab.eval.summary import accuracy_table
from rm_lab.eval.timing import EpochTimer, clock
from rm_lab.rundir.publish import close_loggers, publish
from rm_lab.rundir.results import RESULTS_NAME, Results, add_blocks, new_results, read_results, write_results
from rm_lab.runner.build import (
    build_data,
    build_inputs,
    build_loggers,
    build_method,
    build_trainer,
    method_class,
)
from rm_lab.runner.checkpoints import BEST, LastCheckpoint, last_checkpoint
from rm_lab.runner.memory import describe, device_bytes, memory_plan

log = logging.getLogger("rm_lab")


TEST_ON = ("best", "last")


def selection_callbacks(cfg: DictConfig, monitor: str | None, component: str | None, selectors: list) -> list:
    """Validation selection for one fit: the best epoch's weights (test_on: best) and, with
    `early_stopping: N`, a stop after N epochs without a better validation accuracy."""
    if not monitor:
        return []
    best = BestWeights(monitor, restore=cfg.test_on == "best", component=component)
    selectors.append(best)
    if not cfg.get("early_stopping"):
        return [best]
    from pytorch_lightning.callbacks import EarlyStopping

    return [best, EarlyStopping(monitor=monitor, mode="max", patience=int(cfg.early_stopping), strict=False)]


def validation_block(cfg: DictConfig, module, selectors: list[BestWeights]) -> dict:
    block: dict = {"test_on": cfg.test_on, "per_epoch": list(module.validation_epochs)}
    if len(selectors) == 1:
        block.update(best_epoch=selectors[0].best_epoch, best_accuracy=selectors[0].best)
    else:
        block.update(best_epoch=None, best_accuracy=None)
    block["by_component"] = {b.component or b.monitor: b.summary() for b in selectors}
    return block


def finished_run(path: Path, resume: bool) -> Results | None:
    """A result once written is never overwritten: a folder holding a completed run is refused,
    or, with `resume=true`, its results are returned as they are (a resumed sweep skips the job)."""
    if not path.exists():
        return None
    try:
        stored = read_results(path)
    except ValueError:
        stored = {"status": "unreadable"}
    if stored.get("status") not in ("completed", "unreadable"):
        return None  # running (killed) or failed: a new attempt may take the folder
    if resume and stored["status"] == "completed":
        log.info("%s holds a completed run: nothing to resume", path)
        return stored
    raise FileExistsError(f"{path} already holds a {stored['status']} run; results are never overwritten. Give "
                          "this run another folder (hydra.run.dir=..., or a new hydra.sweep.dir for a sweep), or "
                          "add resume=true to skip it")


def checkpoint_callbacks(cfg: DictConfig, component: str | None, whole: bool) -> tuple[list, Path | None]:
    """The checkpoint a fit writes as it goes (and resumes from with resume=true); `whole`: the
    fit trains the whole method (checkpoints/last.ckpt), else one of its parts."""
    if not component or not (cfg.get("checkpoint") or {}).get("last", True):
        return [], None
    path = last_checkpoint(cfg.paths.output_dir, None if whole else component)
    every = (cfg.get("checkpoint") or {}).get("every_n_steps")
    return [LastCheckpoint(path, every)], path if cfg.get("resume") else None




def checkpoint_run(cfg: DictConfig) -> Path | None:
    """With `ckpt=RUN_DIR`: the stored run whose trained weights this run tests, checked before
    any work (train=false, a completed run of the same method and model, its weights present)."""
    ckpt = cfg.get("ckpt")
    if not ckpt:
        return None
    if cfg.train:
        raise ValueError(f"ckpt={ckpt} tests a trained model's weights: add train=false")
    from rm_lab.inference.scorer import ModelLoadError, completed_results, run_folder, stored_weights

    try:
        run_dir = run_folder(ckpt)
        stored = completed_results(run_dir)
        if (stored.get("method"), stored.get("model")) != (cfg.method.name, cfg.model.name):
            raise ModelLoadError(f"it holds a method={stored.get('method')} model={stored.get('model')} run; this "
                                 f"run is method={cfg.method.name} model={cfg.model.name}: add method=... "
                                 "model=... to match the stored run")
        run_cfg = OmegaConf.create(stored["config"]) if (stored.get("config") or {}).get("method") else cfg
        stored_weights(run_dir, run_cfg, stored)
    except ModelLoadError as err:
        raise ValueError(f"ckpt={ckpt}: {err}") from None
    return run_dir


def load_checkpoint_run(module, run_dir: Path) -> None:
    """The stored run's tested weights (checkpoints/best.ckpt) into a single-fit method."""
    state = torch.load(run_dir / BEST, map_location="cpu", weights_only=True)["state_dict"]
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"ckpt={run_dir}: its weights do not fit the method built for this run (give it the "
                         f"stored run's method options, e.g. method.num_experts, method.lora): {err}") from err


def warn_if_too_big(cfg: DictConfig) -> dict | None:
    """Before anything is loaded: the run's memory estimate (rm_lab/runner/memory.py) against its
    device (the GPU for a GPU trainer, RAM for a CPU one); a warning saying what to change when
    it does not fit. Returns the estimate (None when it cannot be made)."""
    memory, what = device_bytes(cfg)
    if memory is None or getattr(method_class(cfg.method), "inputs", "tokens") != "tokens":
        return None
    try:
        estimate = memory_plan(cfg, memory)
    except Exception as err:  # an estimate must never stop a run
        log.debug("no memory estimate for this run: %s", err)
        return None
    if not estimate["fits"]:
        log.warning("this run may not fit %s: about %.1f GB per device estimated, %.1f GB available "
                    "(python -m rm_lab.plan <overrides> for the parts)\n%s", what, estimate["total_bytes"] / 1e9,
                    memory / 1e9, describe(estimate))
    return estimate


def run(cfg: DictConfig) -> Results:
    """Train and evaluate one configured run; always leaves a results.json behind (written by
    the first process only, in a multi-process run)."""
    if cfg.get("runs_with", "rm_lab") != "rm_lab":  # an experiment of a study, not of the runner
        raise ValueError(f"experiment={cfg.experiment_name} is not a training run: run it with "
                         f"python -m {cfg.runs_with} experiment={cfg.experiment_name}")
    if cfg.get("test_on", "best") not in TEST_ON:
        raise ValueError(f"test_on must be one of {list(TEST_ON)}, got {cfg.test_on!r}")
    ckpt_dir = checkpoint_run(cfg)
    output_dir = Path(cfg.paths.output_dir)
    main = is_main_process()
    if main and (done := finished_run(output_dir / RESULTS_NAME, bool(cfg.get("resume")))):
        return done
    if main:
        warn_if_too_big(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    results = new_results(cfg)
    if ckpt_dir is not None:
        results["ckpt"] = str(ckpt_dir)
    loggers: list = []
    module = None
    started = time.perf_counter()
    if main:
        write_results(output_dir, results)  # a killed run still shows as "running"
    try:
        pl.seed_everything(cfg.seed, workers=True)
        datamodule, backbone = build_data(cfg)
        results["data"] = datamodule.counts()
        data = build_inputs(cfg, datamodule, backbone)
        add_blocks(results, data.figures())
        pl.seed_everything(cfg.seed, workers=True)
        # prepare() may drop components (routers cover only domains with training pairs)
        method_node = cfg.method
        whole = getattr(method_class(cfg.method), "checkpoint_whole", True)
        if ckpt_dir is not None and not whole:  # composites load every stored component, train none
            method_node = OmegaConf.merge(cfg.method, {"reuse_components": str(ckpt_dir), "retrain": [],
                                                       "save_components": False})
        module = build_method(method_node, data=data, backbone=backbone, domains=data.domain_names)
        if ckpt_dir is not None and whole:
            load_checkpoint_run(module, ckpt_dir)
        results["params"] = count_components(module.components())
        results["labels"] = {"method": module.label, "components": module.component_labels()}

        loggers = build_loggers(cfg)
        for lg in loggers:
            lg.log_hyperparams(results["config"])
        timer = EpochTimer()
        selectors: list[BestWeights] = []

        def make_trainer(monitor: str | None = None, component: str | None = None, **overrides):
            saving, resume_from = checkpoint_callbacks(cfg, component, module.checkpoint_whole)
            callbacks = [timer, *selection_callbacks(cfg, monitor, component, selectors), *saving]
            return build_trainer(cfg, loggers, callbacks, resume_from=resume_from, **overrides)

        if cfg.get("resume"):
            module.resume_from(output_dir)

        by_component: dict[str, float] = {}
        fit_start = clock(module.device)
        if cfg.train and data.num_pairs("train"):
            by_component = module.run_training(make_trainer, data)
        train_total = clock(module.device) - fit_start
        results["validation"] = validation_block(cfg, module, selectors)
        trainer = make_trainer()
        trainer.test(module, datamodule=data, verbose=False)
        if by_component and (cfg.get("checkpoint") or {}).get("best") and module.checkpoint_whole:
            trainer.save_checkpoint(output_dir / BEST, weights_only=True)  # the weights that were tested

        results["accuracy"] = module.test_results
        if rewardbench := score_results(results["accuracy"]):  # RewardBench subsets -> sections
            results["rewardbench"] = rewardbench
        train_pairs = data.num_pairs("train") * len(timer.per_epoch)
        single_fit = len(by_component) <= 1  # composite methods fit components on parts of the data
        results["train_time"] = {"total_s": train_total, "per_epoch_s": timer.per_epoch,
                                 "validation_s": timer.validation_per_epoch,
                                 "by_component": by_component,
                                 "pairs_per_s": train_pairs / sum(timer.per_epoch)
                                 if timer.per_epoch and single_fit else None}
        results["inference"] = module.inference.summary()
        results["processes"] = trainer.world_size
        add_blocks(results, module.extra_results())
        results["status"] = "completed"
    except BaseException as err:
        results["status"] = "failed"
        results["error"] = f"{type(err).__name__}: {err}"
        results["traceback"] = traceback.format_exc()
        raise
    finally:
        results["wall_time_s"] = time.perf_counter() - started
        if main:
            write_results(output_dir, results)
        if main and results["status"] == "completed":
            publish(loggers, results)
        close_loggers(loggers, "success" if results["status"] == "completed" else "failed")
    if main:
        print(accuracy_table(results, module.summary_lines(results)), flush=True)
        log.info("results written to %s", output_dir / RESULTS_NAME)
    return results
