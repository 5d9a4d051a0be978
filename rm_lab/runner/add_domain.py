"""Add a domain to a trained RODOS or ARLISS run without retraining its other components.

    python -m rm_lab.add_domain RUN_DIR oasst dataset.domains.oasst.path=/data/oasst.jsonl
    python -m rm_lab.add_domain RUN_DIR shp dataset.domains.shp.path=/data/shp.jsonl --out runs/with_shp

RUN_DIR is the directory of a completed run (results.json and components/). The run's own
resolved config is reused, with the given key=value overrides (the new domain's data). Only
the new domain's reward model (RODOS) or adapter and head (ARLISS) and the router are trained;
every other component is loaded from RUN_DIR/components unchanged, and all domains are
evaluated. The new run (results.json, its own components/) goes beside RUN_DIR, in
RUN_DIR+<domain> (a folder that holds a completed run is never written again), unless --out says
otherwise, and can itself be extended the same way.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rm_lab.core.errors import FolderHoldsRun
from rm_lab.methods.capabilities import methods, of_run
from rm_lab.rundir.finished import finished_run, run_config
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.manifest import ComponentsManifest
from rm_lab.rundir.results import read_results


def extendable_methods() -> list[str]:
    """The methods whose runs take a new domain (`Capabilities.adds_domains`), as runs name them."""
    return [m.name for m in methods(adds_domains=True)]


def stored_config(run_dir: Path):
    run = RunDir(run_dir)
    results_file = run.results
    if not results_file.exists():
        raise FileNotFoundError(f"{results_file} does not exist: give the directory of a completed run")
    results = read_results(results_file)  # an older rm_lab's file fails here, saying what to do
    if results.get("status") != "completed":
        raise ValueError(f"run {run_dir} has status {results.get('status')!r}; only a completed run can be extended")
    cfg = run_config(results, results_file)  # a target rm_lab does not build is refused before any is loaded
    method = of_run(results)  # the run's own class, or the registry's entry of its name
    if method is None or not method.capabilities.adds_domains:
        raise ValueError(f"run {run_dir} used method={results.get('method')}; adding a domain needs one of "
                         f"{extendable_methods()}")
    if not run.components_manifest.exists():
        raise FileNotFoundError(f"{run.components_manifest} is missing: the run was not trained "
                                "with method.save_components=true")
    return cfg


def build_config(run_dir: str | Path, domain: str, overrides: list[str] = (), out: str | None = None):
    run_dir = Path(run_dir).expanduser().resolve()
    cfg = stored_config(run_dir)
    manifest = ComponentsManifest.read(RunDir(run_dir).components_manifest)
    if domain in manifest.covered:
        raise ValueError(f"domain {domain} is already covered by {run_dir}; to retrain it run "
                         f"python -m rm_lab ... method.reuse_components={run_dir} method.retrain=[router,{domain}]")
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([o.lstrip("+") for o in overrides]))
    if domain not in cfg.dataset.domains:
        raise ValueError(f"domain {domain!r} is not configured in {run_dir}; configured: {list(cfg.dataset.domains)} "
                         f"(add one with +dataset.domains.{domain}=...)")
    old_dir = str(cfg.paths.output_dir)
    new_dir = str(Path(out).expanduser().resolve() if out else default_out(run_dir, domain))
    try:  # the runner's own check, said before anything loads with this command's remedy
        finished_run(RunDir(new_dir).results, resume=False)
    except FolderHoldsRun:
        raise FileExistsError(f"{new_dir} already holds a completed (or unreadable) run (was {domain} added before?): give "
                              "another folder with --out DIR") from None
    cfg = OmegaConf.create(_moved(OmegaConf.to_container(cfg), old_dir, new_dir))
    cfg.method.reuse_components = str(run_dir)
    cfg.method.retrain = ["router", domain]
    cfg.method.save_components = True
    cfg.train = True
    return cfg


def default_out(run_dir: Path, domain: str) -> Path:
    """Where the extended run goes without --out: beside the run, `<run>+<domain>`."""
    return run_dir.with_name(f"{run_dir.name}+{domain}")


def _moved(node, old: str, new: str):
    """The stored config is resolved: paths under the old output directory (loggers' folders)
    must point into the new one."""
    if isinstance(node, dict):
        return {k: _moved(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_moved(v, old, new) for v in node]
    if isinstance(node, str) and (node == old or node.startswith(old.rstrip("/") + "/")):
        return new + node[len(old):]
    return node
