"""Hand a finished run to its loggers: W&B gets a per-domain table and, as summary fields,
everything results.json holds that a dashboard plots (`summary_fields`); with log_model=true the
tested weights as a model artifact. Every logger is closed so its files are complete when the
run returns."""
from __future__ import annotations

import logging

from rm_lab.rundir import results as metrics
from rm_lab.rundir.results import Results, domain_rows

log = logging.getLogger("rm_lab")


def _put(out: dict, key: str, value) -> None:
    if value is not None:
        out[key] = value


def summary_fields(results: Results) -> dict:
    """A completed run's results as flat W&B summary fields (names as the report's columns):
    accuracy/<domain>, accuracy/average, ties and test pairs; params/total, params/trainable,
    params/<component>/{total,trainable}; train_time/total_s, train_epoch_s/total (one epoch, as
    Table 3) and train_epoch_s/<component>, train_time/per_epoch_s and validation_s (means over
    epochs), pairs_per_s; inference_ms (Table 6's figure), inference/per_input_ms and
    inference/batched_ms; router/accuracy and router/<domain>/accuracy where there is a router;
    oracle_accuracy/average; rewardbench/score and rewardbench/<section> where present;
    validation/best_accuracy and best_epoch; status, wall_time_s."""
    out: dict = {}
    rows = domain_rows(results)
    for d, row in rows.items():
        _put(out, f"accuracy/{d}", metrics.domain_accuracy(results, d))
        _put(out, f"ties/{d}", row.get("tied"))
        _put(out, f"test_pairs/{d}", row.get("n"))
    accuracy = results.get("accuracy") or {}
    _put(out, "accuracy/average", metrics.average_accuracy(results))
    _put(out, "accuracy/overall", accuracy.get("overall"))
    _put(out, "ties/total", accuracy.get("ties"))
    _put(out, "test_pairs/total", accuracy.get("n"))
    params = results.get("params") or {}
    _put(out, "params/total", metrics.total_params(results))
    _put(out, "params/trainable", params.get("trainable"))
    for name, counts in metrics.params_by_component(results).items():
        out.update({f"params/{name}/{k}": v for k, v in counts.items()})
    timing = results.get("train_time") or {}
    _put(out, "train_time/total_s", metrics.train_seconds(results))
    _put(out, "train_epoch_s/total", metrics.epoch_seconds(results))
    for name, seconds in metrics.component_epoch_seconds(results).items():
        out[f"train_epoch_s/{name}"] = seconds
    for key in ("per_epoch_s", "validation_s"):
        values = [v for v in timing.get(key) or [] if isinstance(v, (int, float))]
        _put(out, f"train_time/{key}", sum(values) / len(values) if values else None)
    _put(out, "train_time/pairs_per_s", timing.get("pairs_per_s"))
    _put(out, "inference_ms", metrics.inference_ms(results))
    for form in ("per_input", "batched"):
        seconds = metrics.inference_seconds(results, form)
        _put(out, f"inference/{form}_ms", None if seconds is None else 1000.0 * seconds)
    for name, value in metrics.router_accuracy(results).items():
        out["router/accuracy" if name == "average" else f"router/{name}/accuracy"] = value
    _put(out, "oracle_accuracy/average", (results.get("oracle_accuracy") or {}).get("average"))
    bench = metrics.rewardbench(results) or {}
    _put(out, "rewardbench/score", bench.get("score"))
    for section, value in (bench.get("sections") or {}).items():
        _put(out, f"rewardbench/{section}", value)
    validation = results.get("validation") or {}
    _put(out, "validation/best_accuracy", validation.get("best_accuracy"))
    _put(out, "validation/best_epoch", validation.get("best_epoch"))
    _put(out, "wall_time_s", results.get("wall_time_s"))
    out["status"] = results.get("status")
    return out


def publish(loggers: list, results: Results) -> None:
    """Send the run's summary to the loggers (W&B: a per-domain table, the summary fields and,
    with log_model=true, the tested weights)."""
    from pytorch_lightning.loggers import WandbLogger

    from rm_lab.rundir.wandb_logger import RunLogger

    for lg in loggers:
        if not isinstance(lg, WandbLogger):
            continue
        per_domain = domain_rows(results)
        rows = [[d, r["accuracy"], r["tied"], r["n"]] for d, r in per_domain.items()]
        lg.log_table(key="accuracy_by_domain", columns=["domain", "accuracy", "ties", "pairs"], data=rows)
        lg.experiment.summary.update(summary_fields(results))
        if isinstance(lg, RunLogger) and lg.upload_model:
            name = lg.log_tested_weights(results)
            log.info("tested weights uploaded as the W&B model artifact %s", name)


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
