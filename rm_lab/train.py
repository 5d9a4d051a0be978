"""The entry point: config -> data -> model -> method -> trainer -> eval -> results.json.

    python -m rm_lab                                  # Baseline, packaged MiniLM, bundled samples, CPU
    python -m rm_lab -m seed=0,1,2                    # a seed sweep into multirun/
    python -m rm_lab model=tiny-deberta logger=wandb  # W&B (offline by default; `wandb sync` later)
    python -m rm_lab --help                           # config groups and their choices
"""
from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rm_lab.config import CONF_DIR
from rm_lab.eval.params import count_components
from rm_lab.eval.results import versions, write_json_atomic
from rm_lab.eval.rewardbench import score_results
from rm_lab.eval.summary import accuracy_table
from rm_lab.eval.timing import EpochTimer

log = logging.getLogger("rm_lab")

def build_method(node: DictConfig, **kwargs):
    """instantiate() the method node, leaving out its descriptive `name`."""
    spec = OmegaConf.masked_copy(node, [k for k in node.keys() if k != "name"])
    return instantiate(spec, **kwargs)


def build_data(cfg: DictConfig):
    """The run's datamodule (pairs loaded, tokenized) and backbone factory, data first so an
    unreachable dataset fails before any model is touched."""
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.load_pairs()
    backbone = instantiate(cfg.model, _convert_="all")
    datamodule.attach_tokenizer(backbone.tokenizer(), backbone.max_length)
    datamodule.setup("fit")
    return datamodule, backbone


def build_loggers(cfg: DictConfig) -> list:
    return [instantiate(spec) for spec in (cfg.get("logger") or {}).values() if spec and "_target_" in spec]


def publish(loggers: list, results: dict) -> None:
    """Send the run's summary to the loggers (W&B gets a per-domain table and summary fields)."""
    from pytorch_lightning.loggers import WandbLogger

    for lg in loggers:
        if not isinstance(lg, WandbLogger):
            continue
        per_domain = (results.get("accuracy") or {}).get("per_domain", {})
        rows = [[d, r["accuracy"], r["tied"], r["n"]] for d, r in per_domain.items()]
        lg.log_table(key="accuracy_by_domain", columns=["domain", "accuracy", "ties", "pairs"], data=rows)
        summary = {f"accuracy/{d}": r["accuracy"] for d, r in per_domain.items()}
        summary.update({"accuracy/average": results["accuracy"]["average"],
                        "params/total": results["params"]["total"],
                        "train_time/total_s": results["train_time"]["total_s"],
                        "status": results["status"]})
        lg.experiment.summary.update(summary)


def close_loggers(loggers: list, status: str) -> None:
    for lg in loggers:
        try:
            lg.finalize(status)
        except Exception:  # closing must never hide the run's own outcome
            log.exception("closing logger %s failed", type(lg).__name__)
    from pytorch_lightning.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in loggers):
        import wandb

        try:  # finish the run and stop W&B's writer, so the record log is complete on return
            if wandb.run is not None:
                wandb.finish(exit_code=0 if status == "success" else 1)
            wandb.teardown()
        except Exception:
            log.exception("finishing the W&B run failed")


def run(cfg: DictConfig) -> dict:
    """Train and evaluate one configured run; always leaves a results.json behind."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "status": "running", "method": cfg.method.name, "model": cfg.model.name,
        "dataset": cfg.dataset.name, "seed": cfg.seed, "experiment": cfg.experiment_name,
        "output_dir": str(output_dir), "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": versions(),
    }
    loggers: list = []
    started = time.perf_counter()
    write_json_atomic(output_dir / "results.json", results)  # a killed run still shows as "running"
    try:
        pl.seed_everything(cfg.seed, workers=True)
        datamodule, backbone = build_data(cfg)
        results["data"] = datamodule.counts()
        pl.seed_everything(cfg.seed, workers=True)
        module = build_method(cfg.method, backbone=backbone, domains=datamodule.domain_names)
        datamodule = module.adapt_datamodule(datamodule)  # may drop components (uncovered domains)
        results["params"] = count_components(module.components())

        loggers = build_loggers(cfg)
        for lg in loggers:
            lg.log_hyperparams(results["config"])
        timer = EpochTimer()

        def make_trainer(**overrides):
            return instantiate(cfg.trainer, logger=loggers or False, callbacks=[timer],
                               default_root_dir=str(output_dir), **overrides)

        by_component: dict[str, float] = {}
        fit_start = time.perf_counter()
        if cfg.train and len(datamodule.tokenized["train"]):
            by_component = module.run_training(make_trainer, datamodule)
        train_total = time.perf_counter() - fit_start
        trainer = make_trainer()
        trainer.test(module, datamodule=datamodule, verbose=False)
        if cfg.save_checkpoint:
            trainer.save_checkpoint(output_dir / "model.ckpt", weights_only=True)

        results["accuracy"] = module.test_results
        if rewardbench := score_results(results["accuracy"]):  # RewardBench subsets -> sections
            results["rewardbench"] = rewardbench
        train_pairs = len(datamodule.tokenized["train"]) * len(timer.per_epoch)
        single_fit = len(by_component) <= 1  # composite methods fit components on parts of the data
        results["train_time"] = {"total_s": train_total, "per_epoch_s": timer.per_epoch,
                                 "by_component": by_component,
                                 "pairs_per_s": train_pairs / sum(timer.per_epoch)
                                 if timer.per_epoch and single_fit else None}
        results["inference"] = module.inference.summary()
        results.update(module.extra_results())
        results["status"] = "completed"
    except BaseException as err:
        results["status"] = "failed"
        results["error"] = f"{type(err).__name__}: {err}"
        results["traceback"] = traceback.format_exc()
        raise
    finally:
        results["wall_time_s"] = time.perf_counter() - started
        write_json_atomic(output_dir / "results.json", results)
        if results["status"] == "completed":
            publish(loggers, results)
        close_loggers(loggers, "success" if results["status"] == "completed" else "failed")
    print(accuracy_table(results), flush=True)
    log.info("results written to %s", output_dir / "results.json")
    return results


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    results = run(cfg)
    return (results.get("accuracy") or {}).get("average")


MULTIRUN_FLAGS = ("-m", "--multirun")


def main() -> None:
    """`python -m rm_lab ...`: also accepts `-m` after overrides
    (`python -m rm_lab method=rodos -m seed=0,1,2`), which Hydra's parser alone rejects."""
    args = sys.argv[1:]
    if any(a in MULTIRUN_FLAGS for a in args):
        sys.argv = [sys.argv[0], "--multirun", *(a for a in args if a not in MULTIRUN_FLAGS)]
    hydra_main()


if __name__ == "__main__":
    main()
