"""The W&B logger of a run (conf/logger/wandb.yaml): Lightning's WandbLogger, plus what a dashboard
needs that Lightning does not do for rm_lab's runs.

    python -m rm_lab logger=wandb                              # offline; `wandb sync` later
    python -m rm_lab logger=wandb logger.wandb.log_model=true  # + the tested weights as a model artifact

- Best validation values: the first time a `val/...` metric is logged it is declared with
  `define_metric(..., summary=...)`: accuracies keep their max and last value in the run's
  summary, losses and errors their min and last (`val/accuracy/average.max` is the best epoch's).
- The run's results (rm_lab/rundir/publish.py): `summary_fields` of results.json in the summary.
- `log_model=true`: the weights the test set was scored with (`checkpoints/best.ckpt`, or a
  composite method's `components/`), with results.json, as a `model` artifact at the end of a
  completed run; the artifact's files keep the run folder's layout, so a downloaded copy loads with
  `rm_lab.load_reward_model(DIR)`. Offline runs keep the artifact for `wandb sync`. (Lightning's
  own `log_model` uploads `ModelCheckpoint` callbacks' files, which rm_lab's runs do not use, and
  refuses offline runs: it is left off.) Whether a run can upload is checked before any work
  (rm_lab/runner/model_upload.py).
"""
from __future__ import annotations

from pathlib import Path

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from rm_lab.rundir.layout import RunDir

# a validation metric's summary by a word in its name: (word, summary ops), first match wins
BEST_SUMMARY = (("accuracy", "max,last"), ("loss", "min,last"), ("rmse", "min,last"))
STEP = "trainer/global_step"  # Lightning's x axis for every metric
MODEL_ARTIFACT_TYPE = "model"
MODEL_ALIASES = ["latest", "tested"]


def summary_ops(key: str) -> str | None:
    """The define_metric summary of a logged metric: a validation accuracy's max, a loss's min."""
    if not key.startswith("val/"):
        return None
    return next((ops for word, ops in BEST_SUMMARY if word in key), None)


class RunLogger(WandbLogger):
    """Lightning's WandbLogger with best-value summaries of the validation metrics and, with
    `log_model`, the run's tested weights uploaded by `log_tested_weights`."""

    def __init__(self, *args, log_model: bool = False, **kwargs):
        super().__init__(*args, log_model=False, **kwargs)
        self.upload_model = bool(log_model)
        self._declared: set[str] = set()

    @rank_zero_only
    def log_metrics(self, metrics, step=None) -> None:
        for key in metrics:
            if key not in self._declared:
                self._declared.add(key)
                if ops := summary_ops(key):  # on Lightning's step axis, as its "*" definition puts every metric
                    self.experiment.define_metric(key, step_metric=STEP, step_sync=True, summary=ops)
        super().log_metrics(metrics, step)

    @rank_zero_only
    def log_tested_weights(self, results: dict) -> str:
        """Upload the weights the run was tested with as a model artifact; returns its name."""
        import wandb

        files = tested_weight_files(results)
        run = self.experiment
        artifact = wandb.Artifact(name=f"model-{run.id}", type=MODEL_ARTIFACT_TYPE,
                                  description=f"{results.get('method')} on {results.get('model')}: the weights "
                                              "the test set was scored with (rm_lab.load_reward_model(DIR))",
                                  metadata=model_metadata(results))
        for name, path in files.items():
            artifact.add_file(str(path), name=name)
        run.log_artifact(artifact, aliases=MODEL_ALIASES)
        return artifact.name


def tested_weight_files(results: dict) -> dict[str, Path]:
    """{name in the artifact: file} of the weights a completed run was tested with: its
    results.json and checkpoints/best.ckpt or components/ (with `ckpt=RUN_DIR`, the stored run's
    weights). FileNotFoundError saying why when there are none."""
    folder = RunDir(results.get("ckpt") or results["output_dir"])
    files: dict[str, Path] = {RunDir.RESULTS: RunDir(results["output_dir"]).results}
    if folder.best_checkpoint.exists():
        files[str(folder.relative(folder.best_checkpoint))] = folder.best_checkpoint
    elif folder.components_manifest.exists():
        files.update({str(folder.relative(p)): p for p in sorted(folder.components.rglob("*")) if p.is_file()})
    else:
        raise FileNotFoundError(f"log_model=true: {folder.root} holds no tested weights ({folder.best_checkpoint} "
                                f"or {folder.components_manifest}); the run trained nothing (no training pairs?)")
    return files


def model_metadata(results: dict) -> dict:
    accuracy = results.get("accuracy") or {}
    return {"method": results.get("method"), "model": results.get("model"), "dataset": results.get("dataset"),
            "seed": results.get("seed"), "accuracy_average": accuracy.get("average"),
            "accuracy_per_domain": {d: r.get("accuracy") for d, r in (accuracy.get("per_domain") or {}).items()},
            "params_total": (results.get("params") or {}).get("total"), "tested_from": results.get("ckpt")}
