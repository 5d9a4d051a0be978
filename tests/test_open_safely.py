"""Opening a run folder or an export never executes anything named in it.

- A stored config's `_target_`s: every door that reads a run (score, export, serve,
  load_reward_model, reward_function, add_domain, train=false ckpt=, the reports, reward_stats)
  refuses a planted target that would write a marker file, and no marker appears. The allowlist
  (rm_lab/core/safe_config.py) covers every target of rm_lab's own conf/, exactly.
- Checkpoints: a planted pickle in best.ckpt or last.ckpt is refused with a clear error, even
  with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, resume and `export --format run` included.
- `score --out`: no clobbering (an existing file only with --force; never the input, never a
  file inside a run or export folder), a folder gets a clear error, the write is atomic.

The public helpers (`plant_target`, `plant_pickle`, `DOORS`, `open_door`, `out_refusal`) are what
the fault-injection cases call.
"""
from __future__ import annotations

import builtins
import itertools
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from rm_lab.core.config import CONF_DIR, compose
from rm_lab.core.new_file import new_file
from rm_lab.core.safe_config import (
    LIBRARY_TARGETS,
    RM_LAB_FUNCTIONS,
    UnsafeTargetError,
    check_targets,
    iter_targets,
    target_allowed,
)
from rm_lab.core.safe_weights import UnsafeCheckpointError, check_weights, load_weights
from rm_lab.rundir.layout import RunDir

REFUSED = "which rm_lab does not build from a stored run"
NOT_WEIGHTS = "holds more than weights"
_planted = itertools.count()


# -- the allowlist against rm_lab's own conf/ -------------------------------------------------------
def conf_targets() -> set[str]:
    """Every `_target_` written in any YAML file of conf/ (a composed config only holds targets
    written in these files: an interpolated one would show here as its `${...}` text)."""
    found: set[str] = set()
    for path in CONF_DIR.rglob("*.yaml"):
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        found.update(str(t) for _, t in iter_targets(node))
    return found


def test_every_target_of_rm_lab_conf_is_allowed_and_the_library_list_is_exact():
    written = conf_targets()
    composed = {str(t) for _, t in iter_targets(OmegaConf.to_container(compose([]), resolve=False))}
    assert composed and composed <= written  # the default composition names nothing outside the files
    assert [t for t in sorted(written) if not target_allowed(t)] == []
    outside = {t for t in written if not t.startswith("rm_lab.")}
    assert outside == set(LIBRARY_TARGETS)  # no library target missing, none kept that conf/ no longer names
    assert {t for t in written if t in RM_LAB_FUNCTIONS} == set(RM_LAB_FUNCTIONS)


@pytest.mark.parametrize("target", [
    "builtins.open", "os.system", "pathlib.Path.touch", "pandas.read_pickle", "torch.load",
    "rm_lab.core.io.write_text_atomic",        # an rm_lab function that writes a file
    "rm_lab.core.io.os.system",                # an attribute chain out of rm_lab
    "rm_lab.core.io.Path",                     # a class rm_lab imports, not one it defines
    "rm_lab.__main__.main", "rm_lab.nope.Nothing", "rm_lab.methods.baseline.BaselineRM.__init__",
])
def test_a_target_outside_the_allowlist_is_refused_naming_its_key(target):
    config = {"method": {"_target_": "rm_lab.methods.baseline.BaselineRM", "name": "baseline",
                         "inner": [{"_args_": [{"_target_": target}]}]}}
    with pytest.raises(UnsafeTargetError) as refused:
        check_targets(config, "runs/x/results.json")
    message = str(refused.value)
    assert message.startswith("runs/x/results.json: the stored config names method.inner[0]._args_[0]._target_=")
    assert repr(target) in message and REFUSED in message


def test_a_target_hidden_behind_an_interpolation_is_seen_and_rm_lab_classes_pass():
    hidden = {"model": "${oc.decode:'{_target_: os.system, _args_: [echo]}'}"}
    with pytest.raises(UnsafeTargetError, match=r"model\._target_='os\.system'"):
        check_targets(hidden, "r")
    for target in ("rm_lab.methods.baseline.BaselineRM", "rm_lab.data.datamodule.PreferenceDataModule",
                   "rm_lab.methods.optim.linear_warmup", "torch.optim.AdamW"):
        assert target_allowed(target), target
    assert not target_allowed(123) and not target_allowed(None)


# where hydra builds or imports from a config, and what config it is: the user's own (conf/, the
# command line, a searchpath) or a stored one, already checked (run_config, check_targets)
BUILD_SITES = {
    "rm_lab/runner/build.py": "the builders: the user's config, or a stored one from run_config",
    "rm_lab/methods/optim.py": "the optimizer and scheduler nodes of a config the builders take",
    "rm_lab/methods/capabilities.py": "the registry's conf/ and searchpath; a run's class after check_targets",
    "rm_lab/studies/base_model/zoo.py": "conf/model of the installed package",
    "rm_lab/cli/score.py": "conf/domain of the installed package",
    "rm_lab/core/safe_config.py": "the checked instantiate itself",
    "rm_lab/runner/callbacks.py": "the callbacks of the user's own config (conf/callbacks, +trainer.callbacks)",
    "rm_lab/runner/model_upload.py": "the logger class the user's own config names (get_class, not called)",
    "rm_lab/runner/preflight.py": "the method class the user's own config names (get_class, not called)",
    "rm_lab/studies/paper_data.py": "conf/domain of the installed package",
    "rm_lab/data/read_ahead.py": "the domains of the user's own config (cfg.dataset.domains), as build_data builds them",
}


def test_hydra_builds_only_where_the_config_is_known_and_stored_configs_are_read_through_run_config():
    import ast

    import rm_lab

    package = Path(rm_lab.__file__).parent
    sites, creates = set(), []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "hydra.utils":
                sites.add(name)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "OmegaConf.create" and node.args \
                    and "'config'" in ast.unparse(node.args[0]):
                creates.append(f"{name}:{node.lineno}")
    assert sites <= set(BUILD_SITES), sorted(sites - set(BUILD_SITES))
    assert creates == []  # a results file's config becomes a DictConfig through run_config only


# -- planted pickles ------------------------------------------------------------------------------------
class Planted:
    """Unpickled with weights_only=False, it would open (create) the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


def plant_pickle(path: Path, marker: Path) -> Path:
    """A checkpoint at `path` whose unpickling would write `marker` (weights beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    torch.save({"state_dict": {"w": torch.zeros(2)}, "planted": Planted(marker)}, path)
    return path


def test_a_planted_pickle_is_refused_even_when_the_environment_forces_full_unpickling(tmp_path, monkeypatch):
    live = tmp_path / "live.ckpt"
    plant_pickle(live, tmp_path / "live_marker")
    torch.load(live, weights_only=False)  # the plant is live: full unpickling writes its marker
    assert (tmp_path / "live_marker").exists()

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "marker"
    planted = plant_pickle(tmp_path / "best.ckpt", marker)
    for load in (load_weights, check_weights):
        with pytest.raises(UnsafeCheckpointError) as refused:
            load(planted)
        assert str(refused.value).startswith(f"{planted} {NOT_WEIGHTS} (it names ")
    assert not marker.exists()
    clean = tmp_path / "clean.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, clean)
    assert torch.equal(load_weights(clean)["state_dict"]["w"], torch.ones(2))


@pytest.mark.slow  # a Lightning fit (refused before its first step)
def test_a_resume_from_a_planted_last_checkpoint_is_refused(tmp_path, monkeypatch, fault_case):
    import pytorch_lightning as pl

    from rm_lab.runner.checkpoints import ResumableTrainer

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):
            return self.w(batch).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.ones(2, 1), batch_size=1)

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "marker"
    last = plant_pickle(RunDir(tmp_path).last_checkpoint(), marker)
    with pytest.raises(UnsafeCheckpointError, match=NOT_WEIGHTS):
        trainer = ResumableTrainer(max_epochs=1, logger=False, enable_checkpointing=False,
                                   enable_progress_bar=False, enable_model_summary=False,
                                   default_root_dir=str(tmp_path))
        trainer.resume_from = last
        trainer.fit(Tiny())
    case = fault_case("planted pickle in last.ckpt at resume")  # counted in the fault-injection tally
    case["clear"] = True
    assert not marker.exists()
    case["intact"] = last.exists()


# -- score --out ----------------------------------------------------------------------------------------
def out_refusal(run: Path, rows: Path, out: Path, *extra: str) -> tuple[int, str]:
    """(exit status, stderr) of `python -m rm_lab.score RUN ROWS --out OUT ...`'s library call."""
    import contextlib
    import io

    from rm_lab.cli.score import main as score_main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = score_main([str(run), str(rows), "--out", str(out), "--no-progress", *extra])
    return code, err.getvalue()


@pytest.fixture
def scoring(tmp_path, write_run):
    """A completed run's results.json (no weights: a wrong --out fails before the model loads),
    an input file, an export folder and a file that already exists."""
    run = tmp_path / "run"
    write_run(run / RunDir.RESULTS)
    rows = tmp_path / "rows" / "pairs.jsonl"
    rows.parent.mkdir()
    rows.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    export = tmp_path / "export"
    export.mkdir()
    RunDir(export).export_manifest.write_text(json.dumps({"kind": "export", "format": "transformers"}))
    existing = tmp_path / "scores.jsonl"
    existing.write_text("kept\n")
    return run, rows, export, existing


@pytest.mark.parametrize("case", ["folder", "exists", "input", "input_folder", "run_results", "run_file",
                                  "export_file", "symlink_into_run"])
def test_score_out_refuses_before_any_work(scoring, tmp_path, case):
    run, rows, export, existing = scoring
    before = {p: p.read_bytes() for p in [run / RunDir.RESULTS, rows, existing]}
    (tmp_path / "link").symlink_to(run / RunDir.RESULTS)
    out, force, expected = {
        "folder": (tmp_path, False, "is a folder: give a file to write"),
        "exists": (existing, False, "already exists: add --force to replace it"),
        "input": (rows, True, "is the input file"),
        "input_folder": (rows.parent / "scores.jsonl", True, "is inside the input folder"),
        "run_results": (run / RunDir.RESULTS, True, f"is inside the run folder {run.resolve()}"),
        "run_file": (run / "scores.jsonl", True, f"is inside the run folder {run.resolve()}"),
        "export_file": (export / "scores.jsonl", True, f"is inside the export folder {export.resolve()}"),
        "symlink_into_run": (tmp_path / "link", True, "is inside the run folder"),
    }[case]
    source = rows.parent if case == "input_folder" else rows
    code, err = out_refusal(run, source, out, *(["--force"] if force else []))
    assert code == 2 and expected in err and "Traceback" not in err, err
    assert {p: p.read_bytes() for p in before} == before  # nothing written over
    assert not (run / "scores.jsonl").exists() and not (export / "scores.jsonl").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_new_file_is_atomic_and_never_replaces_without_overwrite(tmp_path):
    path = tmp_path / "out.jsonl"
    with new_file(path) as tmp:
        tmp.write_text("one\n")
    assert path.read_text() == "one\n"
    with pytest.raises(FileExistsError, match="already exists"), new_file(path) as tmp:
        tmp.write_text("two\n")  # the file was there when the write ended: kept
    with pytest.raises(RuntimeError), new_file(tmp_path / "never.jsonl") as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    with new_file(path, overwrite=True) as tmp:
        tmp.write_text("three\n")
    assert path.read_text() == "three\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_umask_mode_not_tempfiles_private_one(tmp_path, monkeypatch, umask):
    import rm_lab.core.io as io

    monkeypatch.setattr(io, "UMASK", umask)
    with new_file(tmp_path / "scores.jsonl") as tmp:
        tmp.write_text("{}\n")
    io.write_json_atomic(tmp_path / "results.json", {"status": "completed"})
    for name in ("scores.jsonl", "results.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name  # 0o644 or 0o600
    folder = tmp_path / "export"
    folder.mkdir(mode=0o700)
    assert io.plain_mode(folder, folder=True).stat().st_mode & 0o777 == 0o777 & ~umask


# -- every door of a real run --------------------------------------------------------------------------
def plant_target(config: dict, plant: str, marker: Path, folder: Path) -> dict:
    """The stored `config` with a target that would write `marker` when the config is built:
    import: the method's class from a module (in `folder`, on sys.path) that writes it on import;
    call: `builtins.open` in the dataset node; rm_lab_function: rm_lab's own atomic writer in the
    model node; attribute_chain: `os.system` reached through an rm_lab module as the model."""
    config = json.loads(json.dumps(config))
    if plant == "import":
        module = f"rm_lab_planted_{os.getpid()}_{next(_planted)}"
        (folder / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\n\nclass Planted:\n    pass\n")
        config["method"]["_target_"] = f"{module}.Planted"
    elif plant == "call":
        config["dataset"]["planted"] = {"_target_": "builtins.open", "_args_": [str(marker), "w"]}
    elif plant == "rm_lab_function":
        config["model"]["planted"] = {"_target_": "rm_lab.core.io.write_text_atomic", "path": str(marker),
                                      "text": "x"}
    elif plant == "attribute_chain":
        config["model"] = {"_target_": "rm_lab.core.io.os.system", "_args_": [f"touch {marker}"],
                           "name": config["model"]["name"]}
    else:
        raise ValueError(plant)
    return config


def planted_copy(run: Path, folder: Path, plant: str, marker: Path) -> Path:
    """A copy of the finished `run` (weights hard-linked) whose results.json names a planted target."""
    copy = folder / "sweep" / "run"
    shutil.copytree(run, copy, copy_function=os.link, ignore=shutil.ignore_patterns(RunDir.RESULTS))
    results = json.loads((run / RunDir.RESULTS).read_text())
    results["config"] = plant_target(results["config"], plant, marker, folder)
    (copy / RunDir.RESULTS).write_text(json.dumps(results))
    return copy


def open_door(door: str, run: Path, tmp: Path, monkeypatch) -> tuple[str, int | None]:
    """Open the run folder `run` through `door`; (the message it refused with, the CLI's exit
    status or None for a library call)."""
    import contextlib
    import io
    import logging

    err = io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)
    # rm_lab's own warnings reach the handler whatever earlier tests in this process did to logging
    # (a Hydra job's logging config, a library's logging.disable, a parent that stopped propagating)
    logging.disable(logging.NOTSET)
    ours = logging.getLogger("rm_lab")
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("rm_lab.") and isinstance(logger, logging.Logger):
            logger.disabled, logger.propagate = False, True
            logger.setLevel(logging.NOTSET)
    ours.disabled = False
    saved = (ours.level, ours.propagate)
    ours.setLevel(logging.WARNING)
    ours.propagate = False
    ours.addHandler(handler)
    code: int | None = None
    try:
        with contextlib.redirect_stderr(err):
            if door == "score":
                from rm_lab.cli.score import main
                rows = tmp / "rows.jsonl"
                rows.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
                code = main([str(run), str(rows), "--out", str(tmp / "scores.jsonl"), "--no-progress"])
            elif door in ("export", "export_run"):
                from rm_lab.cli.export import main
                code = main([str(run), str(tmp / door), *(["--format", "run"] if door == "export_run" else [])])
            elif door == "serve":
                import uvicorn

                from rm_lab.cli.serve import main

                def started(*args, **kwargs):
                    raise AssertionError("the server started")
                monkeypatch.setattr(uvicorn, "run", started)
                code = main([str(run), "--port", "0"])
            elif door == "add_domain":
                from rm_lab.cli.add_domain import main
                try:
                    main([str(run), "oasst", "--out", str(tmp / "added")])
                except SystemExit as stop:
                    code = stop.code
            elif door == "report":
                from rm_lab.cli.report import main
                code = main([str(run.parent), "--out", str(tmp / "reports"), "--tables", "2", "--no-plots"])
            elif door in ("load_reward_model", "reward_function", "ckpt", "reward_stats"):
                try:
                    library_door(door, run, tmp)
                except ValueError as refused:
                    return str(refused), None
                return "", None
            else:
                raise ValueError(door)
    finally:
        ours.removeHandler(handler)
        ours.setLevel(saved[0])
        ours.propagate = saved[1]
    return err.getvalue(), code


def library_door(door: str, run: Path, tmp: Path) -> None:
    import rm_lab

    if door == "load_reward_model":
        rm_lab.load_reward_model(run, device="cpu", progress=False)
    elif door == "reward_function":
        rm_lab.reward_function(run, device="cpu")
    elif door == "reward_stats":
        from rm_lab.inference.reward_stats import training_pairs

        training_pairs(OmegaConf.create(json.loads((run / RunDir.RESULTS).read_text())["config"]))
    elif door == "ckpt":
        from rm_lab.runner.run import plan

        cfg = compose(["model=tiny-deberta", "train=false", f"ckpt={run}", "logger=csv"])
        cfg.paths.output_dir = str(tmp / "tested")
        plan(cfg)


DOORS = ("score", "export", "export_run", "serve", "load_reward_model", "reward_function", "add_domain", "ckpt",
         "report", "reward_stats")
PLANTS = ("import", "call", "rm_lab_function", "attribute_chain")
EXIT = {"score": 2, "export": 2, "export_run": 2, "serve": 2, "add_domain": 2, "report": 0}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    from rlhf_runs import trained

    return trained(tmp_path_factory, "baseline")


@pytest.mark.slow
@pytest.mark.parametrize("plant", PLANTS)
@pytest.mark.parametrize("door", DOORS)
def test_every_door_refuses_a_planted_target_and_runs_nothing(finished_run, tmp_path, monkeypatch, door, plant,
                                                               fault_case):
    if door == "reward_stats" and plant != "call":
        pytest.skip("reward_stats builds the dataset node only")
    case = fault_case(f"planted {plant} target at {door}")  # counted in the fault-injection tally
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "marker"
    run = planted_copy(finished_run, tmp_path, plant, marker)
    message, code = open_door(door, run, tmp_path, monkeypatch)
    source = "the run's stored config" if door == "reward_stats" else str((run / RunDir.RESULTS).resolve())
    assert f"{source}: the stored config names " in message and REFUSED in message, message
    assert "Traceback" not in message and code == EXIT.get(door), (code, message)
    case["clear"] = True
    assert not marker.exists()
    assert not [p for p in ("scores.jsonl", "export", "export_run", "added", "tested") if (tmp_path / p).exists()]
    case["intact"] = (finished_run / RunDir.RESULTS).exists()


@pytest.mark.slow
@pytest.mark.parametrize("door", ["score", "load_reward_model", "export_run", "ckpt"])
def test_a_planted_best_checkpoint_is_refused_at_every_door_that_loads_or_copies_it(finished_run, tmp_path,
                                                                                    monkeypatch, door, fault_case):
    case = fault_case(f"planted pickle in best.ckpt at {door}")  # counted in the fault-injection tally
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    run = tmp_path / "sweep" / "run"
    shutil.copytree(finished_run, run, copy_function=os.link)
    marker = tmp_path / "marker"
    plant_pickle(RunDir(run).best_checkpoint, marker)
    if door == "ckpt":  # the runner loads the stored weights when it builds the method
        from rm_lab.runner.run import load_checkpoint_run

        with pytest.raises(UnsafeCheckpointError, match=NOT_WEIGHTS):
            load_checkpoint_run(torch.nn.Linear(1, 1), run)
        message, code = "", None
    else:
        message, code = open_door(door, run, tmp_path, monkeypatch)
        assert f"{RunDir(run.resolve()).best_checkpoint} {NOT_WEIGHTS}" in message, message
        assert code == EXIT.get(door) and "Traceback" not in message
    case["clear"] = True
    assert not marker.exists() and not (tmp_path / "export_run").exists()
    case["intact"] = True
