"""Hand a finished run to its loggers: W&B gets a per-domain table and summary fields, and
every logger is closed so its files are complete when the run returns."""
from __future__ import annotations

import logging

from rm_lab.rundir.results import (
    Results,
    average_accuracy,
    domain_rows,
    total_params,
    train_seconds,
)

log = logging.getLogger("rm_lab")


def publish(loggers: list, results: Results) -> None:
    """Send the run's summary to the loggers (W&B gets a per-domain table and summary fields)."""
    from pytorch_lightning.loggers import WandbLogger

    for lg in loggers:
        if not isinstance(lg, WandbLogger):
            continue
        per_domain = domain_rows(results)
        rows = [[d, r["accuracy"], r["tied"], r["n"]] for d, r in per_domain.items()]
        lg.log_table(key="accuracy_by_domain", columns=["domain", "accuracy", "ties", "pairs"], data=rows)
        summary = {f"accuracy/{d}": r["accuracy"] for d, r in per_domain.items()}
        summary.update({"accuracy/average": average_accuracy(results),
                        "params/total": total_params(results),
                        "train_time/total_s": train_seconds(results),
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
