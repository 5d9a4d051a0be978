"""A finished run's folder read back: which folder, its completed results, where its tested weights are.

Used by whatever takes a trained run's weights: the runner (`ckpt=RUN_DIR`), the scorer
(`rm_lab.load_reward_model`), the export and add_domain. A stored config is read through
`run_config`, which refuses any `_target_` rm_lab does not build. Nothing here builds a method:
what depends on the method's class is passed in as a plain value (`whole`: the method stores one whole checkpoint).
"""
from __future__ import annotations

import logging
from pathlib import Path

from rm_lab.core.errors import FolderHoldsRun
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.manifest import EXPORT_KIND, manifest_kind
from rm_lab.rundir.results import Results, read_results


class ModelLoadError(ValueError):
    """A run folder whose reward model cannot be loaded; the message says what is missing."""


def run_folder(path: str | Path) -> Path:
    """The run folder of `path` (a run folder, or its results file)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give the folder of a completed run "
                                f"(the one holding {RunDir.RESULTS}, written by python -m rm_lab)")
    if path.is_file():
        if path.name != RunDir.RESULTS:
            raise ModelLoadError(f"{path} is a file: give the folder of a completed run (the one holding "
                                 f"{RunDir.RESULTS})")
        path = path.parent
    if not RunDir(path).results.exists():
        if export_format(path) == "transformers":
            raise ModelLoadError(f"{path} is a transformers export (python -m rm_lab.export): load it with "
                                 "transformers' AutoModelForSequenceClassification.from_pretrained, or export the "
                                 "run with --format run for rm_lab.load_reward_model")
        raise FileNotFoundError(f"{path} holds no {RunDir.RESULTS}: it is not a run folder; give the folder of a "
                                "completed run (python -m rm_lab writes one per run)")
    return path.resolve()


def export_format(path: str | Path) -> str | None:
    """The `format` of the export manifest in `path` (python -m rm_lab.export), else None."""
    kind, record = manifest_kind(RunDir(path).export_manifest)
    return record.get("format") if kind == EXPORT_KIND else None


def holding_folder(path: str | Path) -> tuple[Path, str] | None:
    """(folder, "run" or "export") of the run folder or export folder that `path` is in (`path`
    itself or a folder above it holds a results file or an export manifest), else None: where
    nothing but rm_lab's runner and export may write."""
    path = Path(path).expanduser().resolve()
    for folder in (path, *path.parents):
        if RunDir(folder).results.is_file():
            return folder, "run"
        if manifest_kind(RunDir(folder).export_manifest)[0] == EXPORT_KIND:
            return folder, "export"
    return None


def completed_results(run_dir: str | Path) -> Results:
    """The run's results, checked: current schema (else what to do) and status completed."""
    results = read_results(RunDir(run_dir).results)
    if results["status"] != "completed":
        error = f" ({results['error']})" if results.get("error") else ""
        raise ModelLoadError(f"run {run_dir} has status {results['status']!r}{error}: only a completed run has "
                             "tested weights to score with")
    return results


def run_config(results: dict, source: str | Path):
    """The run's stored config (results.json `config`) as a DictConfig, once every `_target_` in it
    is one rm_lab builds (rm_lab/core/safe_config.py); UnsafeTargetError (a ValueError) naming the
    key and the target otherwise. Every door that rebuilds a stored run reads its config here."""
    from rm_lab.core.safe_config import checked_config

    return checked_config(results.get("config") or {}, str(source))


def _nothing_trained(cfg, results: dict) -> str | None:
    if not cfg.get("train", True):
        return "it ran with train=false: nothing was trained, so no weights were stored"
    if not (results.get("train_time") or {}).get("by_component"):
        return "it trained nothing (no training pairs), so no weights were stored"
    return None


def stored_weights(run_dir: str | Path, cfg, results: dict, whole: bool) -> Path:
    """Where the run's tested weights are: the best checkpoint for a method that stores a whole
    checkpoint (`whole`, the method class's `checkpoint_whole`), the components manifest for a
    composite one; ModelLoadError saying why not. `cfg` is the run's config (a DictConfig)."""
    run = RunDir(run_dir)
    if not whole and "reuse_components" not in cfg.method:
        raise ModelLoadError(f"method {cfg.method.get('name')} stores no whole checkpoint and has no "
                             "reuse_components option: its trained parts cannot be loaded")
    path = run.best_checkpoint if whole else run.components_manifest
    if path.exists():
        return path
    why = _nothing_trained(cfg, results)
    if why is None and whole and not (cfg.get("checkpoint") or {}).get("best", True):
        why = "it ran with checkpoint.best=false"
    if why is None and not whole and not cfg.method.get("save_components", True):
        why = "it ran with method.save_components=false"
    reused = (results.get("components") or {}).get("reused_from")
    if why is None and not whole and reused:
        why = f"its components were all reused from {reused}: load that run"
    why = why or "an older rm_lab wrote this run (before runs stored their tested weights), or it was removed"
    raise ModelLoadError(f"{path} is missing: {why}; re-run the run to score it")


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
        logging.getLogger("rm_lab").info("%s holds a completed run: nothing to resume", path)
        return stored
    raise FolderHoldsRun(f"{path} already holds a {stored['status']} run; results are never overwritten. Give "
                          "this run another folder (hydra.run.dir=..., or a new hydra.sweep.dir for a sweep), or "
                          "add resume=true to skip it")
