"""RunDir names every path in a run's folder, and nothing else in the package spells them; the one
manifest schema; the components store; which components a routed run trains, reuses, resumes."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from rm_lab.core.config import compose
from rm_lab.methods.component_plan import ComponentPlan
from rm_lab.rundir import RunDir
from rm_lab.rundir.components import ComponentStore
from rm_lab.rundir.finished import ModelLoadError, run_folder, stored_weights
from rm_lab.rundir.manifest import (
    COMPONENTS_KIND,
    EXPORT_KIND,
    ComponentsManifest,
    ManifestError,
    read_manifest,
    write_manifest,
)

PACKAGE = Path(__file__).resolve().parents[1] / "rm_lab"
# the run folder's file names: only rm_lab/rundir/ spells them
RUN_FOLDER_FILES = re.compile(r"results\.json|last\.ckpt|best\.ckpt|manifest\.json|metrics\.csv|train\.log")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the module's, classes' and functions' docstring nodes."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def test_only_rundir_spells_the_run_folders_file_names():
    """Every string literal in code outside rm_lab/rundir/ (f-strings' text included) is
    checked. Decided here: comments and docstrings may mention the names (they document the
    folder); code names the paths through RunDir (rm_lab/rundir/layout.py)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "rundir":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                for name in RUN_FOLDER_FILES.findall(node.value):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name!r} in a string literal")
    assert not found, ("run-folder file names spelled outside rm_lab/rundir/ (use RunDir, "
                       "rm_lab/rundir/layout.py):\n" + "\n".join(found))


def test_rundir_names_every_path(tmp_path):
    run = RunDir(tmp_path)
    assert run.root == tmp_path and str(run) == str(tmp_path) and RunDir(str(tmp_path)) == run
    assert run.results == tmp_path / "results.json"
    assert run.last_checkpoint() == tmp_path / "checkpoints" / "last.ckpt"
    assert run.last_checkpoint("reward_model/shp") == tmp_path / "checkpoints" / "reward_model" / "shp" / "last.ckpt"
    assert run.best_checkpoint == tmp_path / "checkpoints" / "best.ckpt"
    assert run.components == tmp_path / "components"
    assert run.components_manifest == tmp_path / "components" / "manifest.json"
    assert run.component_file("reward_model/shp") == tmp_path / "components" / "reward_model-shp.pt"
    assert run.metrics == tmp_path / "csv" / "metrics.csv"
    assert run.train_log == tmp_path / "train.log"
    assert run.hydra_dir == tmp_path / ".hydra"
    assert run.export_manifest == tmp_path / "manifest.json"
    assert run.model_card == tmp_path / "README.md"
    assert run.relative(run.best_checkpoint) == Path("checkpoints") / "best.ckpt"


def test_the_csv_logger_and_hydras_log_write_where_rundir_says(tmp_path):
    """conf/logger/csv.yaml and Hydra's job log name live outside RunDir: they must agree with it."""
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    import rm_lab.cli.train

    cfg = compose(["logger=csv"])
    cfg.paths.output_dir = str(tmp_path)
    logger = instantiate(cfg.logger.csv)
    assert Path(logger.log_dir) == RunDir(tmp_path).csv_dir
    assert ExperimentWriter.NAME_METRICS_FILE == RunDir.METRICS
    # Hydra names its job log after the module holding @hydra.main (rm_lab/cli/train.py)
    assert Path(rm_lab.cli.train.__file__).stem + ".log" == RunDir.TRAIN_LOG


# -- the manifest ---------------------------------------------------------------------------------
def test_one_manifest_schema_with_a_kind_and_older_manifests_still_read(tmp_path):
    run = RunDir(tmp_path)
    ComponentsManifest("rodos", "tiny", ["a", "b"], ["a"], {"router": "router.pt"}).write(run.components_manifest)
    on_disk = json.loads(run.components_manifest.read_text())
    assert on_disk["kind"] == COMPONENTS_KIND and on_disk["components"] == {"router": "router.pt"}
    write_manifest(run.export_manifest, EXPORT_KIND, {"format": "run", "method": "rodos"})
    assert read_manifest(run.export_manifest, EXPORT_KIND)["format"] == "run"
    with pytest.raises(ManifestError, match="is not a manifest of kind 'components'"):
        ComponentsManifest.read(run.export_manifest)
    with pytest.raises(ManifestError, match="is not a manifest of kind 'export'"):
        read_manifest(run.components_manifest, EXPORT_KIND)

    old = RunDir(tmp_path / "old")  # written before manifests had a kind
    old.components.mkdir(parents=True)
    old.components_manifest.write_text(json.dumps({"method": "arliss", "model": "m", "domains": ["a"],
                                                   "covered": ["a"], "components": {"router": "router.pt"}}))
    old.export_manifest.write_text(json.dumps({"format": "transformers", "method": "baseline"}))
    assert ComponentsManifest.read(old.components_manifest).method == "arliss"
    assert read_manifest(old.export_manifest, EXPORT_KIND)["format"] == "transformers"
    with pytest.raises(ModelLoadError, match="is a transformers export"):
        run_folder(old.root)  # no results.json, an export's manifest: what to load it with


def test_a_missing_weights_file_says_why(tmp_path, write_run):
    from omegaconf import OmegaConf

    run = RunDir(tmp_path / "run")
    results = json.loads(write_run(run.results, method="rodos").read_text())
    cfg = OmegaConf.create({"train": False, "method": {"name": "rodos", "reuse_components": None}})
    with pytest.raises(ModelLoadError, match="components/manifest.json is missing: it ran with train=false"):
        stored_weights(run.root, cfg, results, whole=False)
    with pytest.raises(ModelLoadError, match="checkpoints/best.ckpt is missing"):
        stored_weights(run.root, cfg, results, whole=True)
    run.best_checkpoint.parent.mkdir(parents=True)
    run.best_checkpoint.touch()
    assert stored_weights(run.root, cfg, results, whole=True) == run.best_checkpoint


# -- the components store -------------------------------------------------------------------------
class _Parts:
    def __init__(self):
        self.states = {"router": {"w": torch.ones(2)}, "reward_model/a": {"w": torch.zeros(3)}, "backbone": None}
        self.loaded, self.frozen = {}, []

    def component_state(self, name):
        return self.states[name]

    def load_component_state(self, name, state):
        self.loaded[name] = state

    def freeze_component(self, name):
        self.frozen.append(name)


def test_the_store_writes_parts_one_by_one_and_loads_them_back(tmp_path):
    parts, identity = _Parts(), ComponentsManifest("rodos", "tiny", ["a", "b"], ["a"])
    store = ComponentStore.of_run(tmp_path)
    assert not store.exists() and store.stored() == {}
    store.save_parts(parts, ["router"], identity, update=True)
    store.save_parts(parts, ["reward_model/a"], identity, update=True)
    assert store.stored() == {"router": "router.pt", "reward_model/a": "reward_model-a.pt"}
    store.save_parts(parts, ["backbone", "router"], identity)  # a whole save lists what it wrote; None: not stored
    assert store.stored() == {"router": "router.pt"} and store.manifest().covered == ["a"]
    store.save_parts(parts, ["router", "reward_model/a"], identity)
    assert ComponentStore.locate(tmp_path, "rodos").folder == store.folder
    assert ComponentStore.locate(store.folder, "rodos").folder == store.folder
    with pytest.raises(FileNotFoundError, match="no manifest.json there"):
        ComponentStore.locate(tmp_path / "elsewhere", "rodos")
    fresh = _Parts()
    store.load_parts(fresh, ["router", "reward_model/a"], freeze=True)
    assert torch.equal(fresh.loaded["router"]["w"], torch.ones(2)) and fresh.frozen == ["router", "reward_model/a"]


# -- which components a routed run trains -----------------------------------------------------------
NAMES = ["router", "reward_model/a", "reward_model/b"]


def _stored(*names: str) -> ComponentsManifest:
    return ComponentsManifest("rodos", "tiny", ["a", "b", "c"], ["a", "b"],
                              {n: RunDir.component_file_name(n) for n in names})


def _reusing(stored, retrain=None, shared=()):
    return ComponentPlan.reusing(NAMES, list(shared), stored, "rodos", "tiny", retrain, ["a", "b", "c"], ["a", "b"],
                                 "STORE", "RUN")


def test_a_reusing_run_trains_the_router_and_what_is_not_stored(caplog):
    plan = _reusing(_stored("router", "reward_model/a", "reward_model/c"))
    assert plan.to_train == {"router", "reward_model/b"} and plan.reused == ("reward_model/a",)
    assert plan.reused_from == "RUN" and plan.summary()["trained"] == ["reward_model/b", "router"]
    assert "reward_model/c is not used" in caplog.text
    plan = _reusing(_stored(*NAMES, "backbone"), retrain=["a"], shared=["backbone"])
    assert plan.to_train == {"reward_model/a"} and plan.reused == ("backbone", "router", "reward_model/b")
    assert _reusing(_stored(*NAMES), shared=["backbone"]).reused == ("reward_model/a", "reward_model/b")


def test_a_reusing_run_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="come from method=rodos model=tiny; this run is method=arliss"):
        ComponentPlan.reusing(NAMES, [], _stored(*NAMES), "arliss", "tiny", None, [], [], "STORE", "RUN")
    with pytest.raises(ValueError, match="unknown component 'x'"):
        _reusing(_stored(*NAMES), retrain=["x"])
    with pytest.raises(ValueError, match=r"\['reward_model/c'\] have no training pairs"):
        _reusing(_stored(*NAMES), retrain=["c"])
    with pytest.raises(ValueError, match="reward_model/b is neither stored in STORE nor listed"):
        _reusing(_stored("router", "reward_model/a"), retrain=["router"])


def test_a_resumed_plan_takes_the_finished_components():
    plan = ComponentPlan.train_all(NAMES).resuming({"router": "router.pt", "reward_model/c": "x.pt"})
    assert plan.to_train == {"reward_model/a", "reward_model/b"} and plan.resumed == ("router",)
    assert plan.resuming({"router": "router.pt"}) == plan  # nothing new to take



def test_hydras_record_is_written_into_a_new_run_folder_only(tmp_path):
    from omegaconf import OmegaConf

    from rm_lab.core.config import CONF_DIR
    from rm_lab.rundir.hydra_record import hydra_record

    run = RunDir(tmp_path / "run")
    assert hydra_record(str(run.root)) == ".hydra"  # not made yet
    run.root.mkdir()
    assert hydra_record(str(run.root)) == ".hydra"  # made, no run in it (a run refused before it started)
    run.results.write_text("{}")
    assert hydra_record(str(run.root)) is None  # holds a run: its record is kept
    conf = OmegaConf.load(CONF_DIR / "config.yaml")
    assert OmegaConf.to_container(conf.hydra)["output_subdir"] == "${hydra_record:${hydra.runtime.output_dir}}"
