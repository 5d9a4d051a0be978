"""`logger.<name>.log_model=true`: checked before any work, so a run that cannot upload the
weights it is tested with fails at once with the reason instead of uploading nothing.

    python -m rm_lab logger=wandb logger.wandb.log_model=true             # uploads checkpoints/best.ckpt
    python -m rm_lab logger=csv +logger.wandb.log_model=true               # refused: no W&B logger
    python -m rm_lab logger=wandb logger.wandb.log_model=true checkpoint.best=false   # refused: no weights kept

The upload itself is rm_lab.rundir.wandb_logger.RunLogger.log_tested_weights, at the end of a
completed run (rm_lab/rundir/publish.py).
"""
from __future__ import annotations

from hydra.utils import get_class
from omegaconf import DictConfig

from rm_lab.rundir.wandb_logger import RunLogger
from rm_lab.runner.build import stores_whole

UPLOADER = f"{RunLogger.__module__}.{RunLogger.__name__}"


def check_log_model(cfg: DictConfig) -> None:
    """ValueError naming the reason when a logger asks for `log_model` and the run cannot give it."""
    for name, spec in (cfg.get("logger") or {}).items():
        if not spec or not spec.get("log_model"):
            continue
        value = str(spec.log_model).lower() if isinstance(spec.log_model, bool) else spec.log_model
        where = f"logger.{name}.log_model={value}"
        if spec.log_model is not True:
            raise ValueError(f"{where}: log_model takes true (upload the weights the test set was scored with "
                             "at the end of the run) or false")
        target = spec.get("_target_")
        try:
            uploads = bool(target) and issubclass(get_class(target), RunLogger)
        except Exception:
            uploads = False
        if not uploads:
            raise ValueError(f"{where}: the tested weights are uploaded by the W&B logger ({UPLOADER}), and "
                             f"logger.{name} is {target or 'not a logger (no _target_)'}: add logger=wandb "
                             "(or drop log_model)")
        if not cfg.get("train", True) and not cfg.get("ckpt"):
            raise ValueError(f"{where}: train=false trains no weights, so there are none to upload; drop "
                             "log_model, or test a trained run's weights with ckpt=RUN_DIR (those are uploaded)")
        whole = stores_whole(cfg.method)
        if whole and not cfg.get("ckpt") and not (cfg.get("checkpoint") or {}).get("best", True):
            raise ValueError(f"{where}: checkpoint.best=false keeps no copy of the tested weights to upload; "
                             "drop checkpoint.best=false or log_model")
        if not whole and not cfg.get("ckpt") and not cfg.method.get("save_components", True):
            raise ValueError(f"{where}: method.save_components=false keeps no copy of the tested components to "
                             "upload; drop method.save_components=false or log_model")
