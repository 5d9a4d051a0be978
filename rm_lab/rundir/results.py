"""results.json: the one record a run leaves behind, its schema in code.

    results = new_results(cfg)                    # status "running": identity, resolved config, versions
    write_results(output_dir, results)            # atomic; stamps schema_version
    add_blocks(results, module.extra_results())   # a method's own blocks, never over a core key
    run = read_results("runs/.../results.json")   # checked; ResultsSchemaError says what to do
    runs = load_runs("multirun/offline")          # every results.json below; broken ones "unreadable"
    average_accuracy(run), domain_accuracy(run, "hh_rlhf"), method_label(run), ...

    python -m rm_lab.results RESULTS_OR_FOLDER...  # upgrade files of an older rm_lab in place

The runner writes the core keys (`Results`); which of them a file must hold depends on its
status (`REQUIRED`). A method adds top-level blocks of its own through `extra_results()`
(router, components, oracle_accuracy, adapter_switches, expert_load, ensemble, ...), and the
data build step through `figures()` (embedding); `add_blocks` refuses one whose name is a
core key or a block already there. Readers take numbers through the accessors below, the one
place that knows where each number sits.

Schema versions:
  1  files without `schema_version` (rm_lab before the schema was written down): the same
     blocks, without `labels`. `upgrade_results` (the command above) stamps them.
  2  `schema_version`; `labels`: how reports name the method and its components;
     `validation`: per-epoch validation accuracy and the epoch the test set was scored with.
"""
from __future__ import annotations

import json
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Literal, TypedDict

from rm_lab.core.io import write_json_atomic
from rm_lab.rundir.layout import RunDir

SCHEMA_VERSION = 2
RESULTS_NAME = RunDir.RESULTS  # a run folder's record (rm_lab/rundir/layout.py names every path)
STATUSES = ("running", "completed", "failed")
Status = Literal["running", "completed", "failed"]
PACKAGES = ("rm_lab", "torch", "transformers", "pytorch-lightning", "hydra-core", "omegaconf",
            "peft", "datasets", "wandb", "numpy")


# -- the blocks --------------------------------------------------------------------------------
class DomainAccuracy(TypedDict):
    accuracy: float          # won / n: strict, a tie is not a win
    won: int
    tied: int
    lost: int
    n: int
    loss: float              # mean Bradley-Terry loss


class Accuracy(TypedDict):
    per_domain: dict[str, DomainAccuracy]   # domains with test pairs only
    average: float | None    # unweighted mean over domains (the paper's "Average")
    overall: float | None    # pooled over all pairs
    ties: int
    loss: float | None
    n: int


class ComponentParams(TypedDict):
    total: int
    trainable: int


class Params(TypedDict):
    total: int               # shared tensors counted once
    trainable: int
    by_component: dict[str, ComponentParams]


class TrainTime(TypedDict, total=False):
    total_s: float           # wall seconds of all fits
    per_epoch_s: list[float]         # each epoch's training seconds, its validation passes left out
    validation_s: list[float]        # each epoch's validation seconds
    by_component: dict[str, float]   # wall seconds of each component's fit
    epoch_s_by_component: dict[str, float]       # one epoch of each component's training, validation left out
    validation_s_by_component: dict[str, float]  # validation seconds per epoch of each component's fit
    pairs_per_s: float | None        # pairs_trained / the epochs' training seconds; None for methods that
                                     # fit components on parts of the data
    pairs_trained: int | None        # optional: pairs the epochs trained on (max_steps may end one early)
    epochs: int              # optional: epochs trained, when not the config's
    peak_memory_bytes: int   # optional: the most memory the fits held (CPU: resident set; GPU: allocated)
    first_step_s: float      # optional: seconds from the process's start to its first training step
    first_batch_s: float     # optional: seconds from the process's start to the beginning of that step


class Inference(TypedDict):
    """Test-time scoring time (`rm_lab.eval.timing.InferenceClock.summary()`). An input is one
    scored text, so a pair is two. `seconds_per_input` is the per-input figure (up to
    `per_input_pairs` test pairs scored one pair at a time) when it was measured, else the batched
    one (every test batch); `protocol` ("per_input" or "batched") says which. The record also holds
    `per_input` and `batched`, each {"seconds_per_input", "inputs", "seconds_total"}; the top-level
    `seconds_total` and `inputs` are the batched pass's."""

    seconds_total: float
    inputs: int              # texts scored (each pair is two)
    seconds_per_input: float | None


class DataCounts(TypedDict):
    source: str
    absent: str | None       # why the domain has no pairs, or None
    pairs: dict[str, int]    # split -> pairs used
    available: dict[str, int]
    dropped: dict            # rows dropped, by split and reason


class ValidationEpoch(TypedDict, total=False):
    epoch: int
    average: float           # validation average accuracy over domains (the selection metric)
    loss: float
    n: int
    per_domain: dict[str, float]


class ComponentValidation(TypedDict):
    monitor: str             # the metric the component was selected on
    epochs: list[dict]       # [{"epoch", "value"}]
    best_epoch: int | None
    best_accuracy: float | None
    restored: bool           # whether the best epoch's weights were put back before testing


class Validation(TypedDict, total=False):
    test_on: str             # "best" (weights of the best validation epoch) or "last"
    per_epoch: list[ValidationEpoch]
    best_epoch: int | None
    best_accuracy: float | None
    by_component: dict[str, ComponentValidation]   # each fit's own selection (composite methods)


class Labels(TypedDict):
    method: str                       # e.g. "MoRE"
    components: dict[str, str]        # part -> label, e.g. {"router": "Router", "reward_model": "RM"};
                                      # a part trained per domain is "<part>/<domain>" in train_time


class Results(TypedDict, total=False):
    """The core of results.json. Method blocks come on top, at run time (see `add_blocks`)."""
    schema_version: int
    status: Status
    method: str
    model: str
    dataset: str
    seed: int
    experiment: str
    output_dir: str
    config: dict             # the run's config, resolved
    versions: dict[str, str | None]
    data: dict[str, DataCounts]
    params: Params
    labels: Labels
    accuracy: Accuracy
    rewardbench: dict        # only when the test set has RewardBench subsets (rm_lab.eval.rewardbench)
    rewardbench2: dict       # only when it has RewardBench 2 pairs (rm_lab.eval.rewardbench2): subsets, score
    train_time: TrainTime
    inference: Inference
    validation: Validation   # per-epoch validation and the epoch tested (test_on)
    processes: int           # processes that scored the test set (multi-process runs sum their counts)
    ckpt: str                # train=false ckpt=RUN_DIR: the run whose trained weights were tested
    debug: str               # a debug run (debug=<name>, +trainer.fast_dev_run=...): reports skip it
    wall_time_s: float
    error: str               # failed runs: "<ExceptionType>: message"
    traceback: str


CORE_KEYS = frozenset(Results.__annotations__)
_IDENTITY = ("schema_version", "status", "method", "model", "dataset", "seed", "experiment",
             "output_dir", "config", "versions")
REQUIRED: dict[str, tuple[str, ...]] = {
    "running": _IDENTITY,
    "completed": _IDENTITY + ("data", "params", "labels", "accuracy", "train_time", "inference",
                              "wall_time_s"),
    "failed": _IDENTITY + ("error", "traceback", "wall_time_s"),
}


_SEED_DIR = re.compile(r"^seed_(-?\d+)$")


class ResultsSchemaError(ValueError):
    """A results file this rm_lab cannot read; the message names the file and what to do."""


# -- writing -----------------------------------------------------------------------------------
def versions() -> dict[str, str | None]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def new_results(cfg) -> Results:
    """The record a run starts with (status "running"): identity, resolved config, versions."""
    from omegaconf import OmegaConf

    return Results(schema_version=SCHEMA_VERSION, status="running", method=cfg.method.name,
                   model=cfg.model.name, dataset=cfg.dataset.name, seed=cfg.seed,
                   experiment=cfg.experiment_name, output_dir=str(Path(cfg.paths.output_dir)),
                   config=OmegaConf.to_container(cfg, resolve=True), versions=versions())


def add_blocks(results: Results, blocks: dict) -> Results:
    """Add a method's (or the data step's) own top-level blocks; a block may not replace a core
    key or a block already written."""
    taken = sorted(k for k in blocks if k in CORE_KEYS or k in results)
    if taken:
        raise ResultsSchemaError(f"extra results blocks {taken} would overwrite keys of results.json "
                                 f"(core keys: {sorted(CORE_KEYS)}); give the blocks names of their own")
    results.update(blocks)
    return results


def results_path(path_or_dir: str | Path) -> Path:
    path = Path(path_or_dir)
    return path if path.suffix == ".json" else RunDir(path).results


def write_results(path_or_dir: str | Path, results: Results) -> Path:
    """Write results.json atomically (into a run folder, or to a .json path), stamped with the
    schema version."""
    results["schema_version"] = SCHEMA_VERSION
    return write_json_atomic(results_path(path_or_dir), results)


# -- reading -----------------------------------------------------------------------------------
def _load(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsSchemaError(f"{path} is not a results file: not valid JSON ({type(err).__name__}: {err}); "
                                 "it was cut short or damaged: re-run the run") from err


def _check_version(path: Path, found) -> None:
    if found is None or found == 1:
        raise ResultsSchemaError(
            f"{path} has results schema version 1 (no schema_version): an older rm_lab wrote it, this one "
            f"reads version {SCHEMA_VERSION}; upgrade it in place with `python -m rm_lab.results {path}` "
            "(or a folder of runs), or re-run the run")
    if isinstance(found, int) and not isinstance(found, bool) and found > SCHEMA_VERSION:
        raise ResultsSchemaError(
            f"{path} has results schema version {found}, newer than this rm_lab reads ({SCHEMA_VERSION}): "
            "update rm_lab to read it")
    if found != SCHEMA_VERSION:
        raise ResultsSchemaError(
            f"{path} has results schema version {found!r}, which no rm_lab writes (this one reads "
            f"{SCHEMA_VERSION}): the file was edited or damaged; re-run the run")


def check_results(record, path: str | Path = RESULTS_NAME) -> Results:
    """The record itself when it is a results.json this rm_lab reads, else ResultsSchemaError."""
    path = Path(path)
    if not isinstance(record, dict):
        raise ResultsSchemaError(f"{path} is not a results file: expected a JSON object, found "
                                 f"{type(record).__name__}")
    _check_version(path, record.get("schema_version"))
    status = record.get("status")
    if status not in STATUSES:
        raise ResultsSchemaError(f"{path} (results schema version {SCHEMA_VERSION}) has status {status!r}; "
                                 f"a run's status is one of {list(STATUSES)}: the file was edited or damaged")
    missing = [k for k in REQUIRED[status] if k not in record]
    if missing:
        raise ResultsSchemaError(f"{path} (results schema version {SCHEMA_VERSION}, status {status}) lacks "
                                 f"{missing}: rm_lab's runner did not write it, or it was edited; re-run the run")
    return record


def read_results(path: str | Path) -> Results:
    """One results.json, checked against the schema (OSError when it cannot be read)."""
    path = Path(path)
    return check_results(_load(path), path)


def upgrade_results(path: str | Path) -> bool:
    """Stamp a version-1 file (an older rm_lab's) as the current version in place: the method's
    own name stands in for its labels. Returns whether the file changed; a current file is left
    alone, anything else fails as `read_results` does."""
    path = results_path(path)
    record = _load(path)
    if not isinstance(record, dict) or record.get("schema_version") not in (None, 1):
        check_results(record, path)
        return False
    record["schema_version"] = SCHEMA_VERSION
    if record.get("status") == "completed":
        record.setdefault("labels", {"method": str(record.get("method")), "components": {}})
    write_results(path, check_results(record, path))
    return True


# -- many runs: sweep and run folders -----------------------------------------------------------
def find_results(*paths: str | Path) -> list[Path]:
    """Every results.json at or below the given files/folders, sorted, without duplicates."""
    if not paths:
        raise ValueError("no sweep or run folder given: pass e.g. multirun/offline or runs/default")
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist: pass a sweep folder (multirun/<experiment>/...), "
                f"a run folder, or a results.json file")
        for f in [path] if path.is_file() else sorted(path.rglob(RESULTS_NAME)):
            found.setdefault(f.resolve(), None)
    return sorted(found)


def identity_from_path(path: str | Path) -> dict:
    """method/model/dataset/seed from the output layout, or {} when the path does not follow it."""
    parts = Path(path).parts
    for i in range(len(parts) - 1, 2, -1):
        match = _SEED_DIR.match(parts[i])
        if match:
            return {"method": parts[i - 3], "model": parts[i - 2], "dataset": parts[i - 1],
                    "seed": int(match.group(1))}
    return {}


def read_run(path: str | Path) -> dict:
    """One results.json with its "path". A file that cannot be read, or that the schema refuses
    (damaged, an older or newer rm_lab's), comes back with status "unreadable", the reason as
    its "error" and the identity from the folder layout (<method>/<model>/<dataset>/seed_<n>/),
    so reports list it as failed instead of stopping."""
    path = Path(path)
    try:
        run = dict(read_results(path))
    except ResultsSchemaError as err:
        run = {**identity_from_path(path), "status": "unreadable", "error": str(err)}
    except OSError as err:
        run = {**identity_from_path(path), "status": "unreadable", "error": f"{type(err).__name__}: {err}"}
    run["path"] = str(path)
    return run


def load_runs(*paths: str | Path) -> list[dict]:
    """Every results.json under the given sweep/run folders, each with its "path". Failed,
    unreadable and unfinished runs are included: check `completed(run)` before using numbers."""
    return [read_run(p) for p in find_results(*paths)]


# -- accessors: one run's numbers, None when the run does not have them ----------------------------
def _get(run: dict, *keys):
    node = run
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def completed(run: dict) -> bool:
    """True when the run finished and wrote its accuracy, and is not a debug run."""
    return run.get("status") == "completed" and isinstance(run.get("accuracy"), dict) and not is_debug(run)


def is_debug(run: dict) -> bool:
    """A debug run (`debug: <name>`, rm_lab/runner/debug.py): made to check that it runs, never averaged."""
    return bool(run.get("debug"))


def cut_short(run: dict) -> str | None:
    """Why the run's training epochs were not whole epochs (`trainer.max_steps=2`,
    `trainer.limit_train_batches=0.1`, `trainer.max_time=...`), else None: its epoch seconds are
    not a 1-epoch time."""
    trainer = _get(run, "config", "trainer") or {}
    if not isinstance(trainer, dict):
        return None
    steps, limit, max_time = trainer.get("max_steps"), trainer.get("limit_train_batches"), trainer.get("max_time")
    why = None
    if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0:
        why = f"trainer.max_steps={steps}"
    elif limit is not None and limit not in (1.0, 1) and not isinstance(limit, bool):
        why = f"trainer.limit_train_batches={limit}"
    elif max_time:
        why = f"trainer.max_time={max_time}"
    trained, epochs = _get(run, "train_time", "pairs_trained"), len(_get(run, "train_time", "per_epoch_s") or [])
    split = [_get(part, "pairs", "train") for part in (run.get("data") or {}).values() if isinstance(part, dict)]
    total = sum(n for n in split if isinstance(n, int))
    if why and isinstance(trained, int) and total and epochs and trained >= total * epochs:
        return None  # the limit was set but every epoch ran whole
    return why


def best_validation_accuracy(run: dict) -> float | None:
    """The run's best validation average accuracy (what `python -m rm_lab` returns to a sweeper):
    a single fit's best epoch; a composite method's mean over its parts' best values (each part
    selected on its own validation pairs); None without validation."""
    best = _number(_get(run, "validation", "best_accuracy"))
    if best is not None:
        return best
    parts = [_number(part.get("best_accuracy")) for part in (_get(run, "validation", "by_component") or {}).values()
             if isinstance(part, dict)]
    parts = [p for p in parts if p is not None]
    return sum(parts) / len(parts) if parts else None


def domain_rows(run: dict) -> dict[str, DomainAccuracy]:
    """{domain: accuracy, won, tied, lost, n, loss} for the domains with test pairs."""
    rows = _get(run, "accuracy", "per_domain")
    return rows if isinstance(rows, dict) else {}


def domains_with_pairs(run: dict) -> list[str]:
    return list(domain_rows(run))


def domain_accuracy(run: dict, domain: str) -> float | None:
    return _number(_get(run, "accuracy", "per_domain", domain, "accuracy"))


def per_domain_accuracy(run: dict) -> dict[str, float]:
    return {d: v for d in domain_rows(run) if (v := domain_accuracy(run, d)) is not None}


def average_accuracy(run: dict) -> float | None:
    return _number(_get(run, "accuracy", "average"))


def rewardbench(run: dict) -> dict | None:
    """The RewardBench block ({"score", "sections", ...}) when the run scored RewardBench."""
    block = run.get("rewardbench")
    return block if isinstance(block, dict) else None


def rewardbench2(run: dict) -> dict | None:
    """The RewardBench 2 block ({"score", "subsets", "strict", ...}) when the run scored RewardBench 2."""
    block = run.get("rewardbench2")
    return block if isinstance(block, dict) else None


def total_params(run: dict) -> float | None:
    return _number(_get(run, "params", "total"))


def train_seconds(run: dict) -> float | None:
    """Wall seconds of all of the run's fits."""
    return _number(_get(run, "train_time", "total_s"))


def component_seconds(run: dict) -> dict[str, float]:
    """Wall seconds of each component's fit ({"reward_model": s} for a single fit)."""
    by = _get(run, "train_time", "by_component")
    return {name: float(s) for name, s in by.items() if _number(s) is not None} if isinstance(by, dict) else {}


def epochs(run: dict) -> int:
    """Epochs the run trained for: train_time.epochs if the method wrote it, else the method's
    own `epochs` setting, else trainer.max_epochs, else 1."""
    for keys in (("train_time", "epochs"), ("config", "method", "epochs"),
                 ("config", "trainer", "max_epochs")):
        value = _get(run, *keys)
        if isinstance(value, int) and value > 0:
            return value
    return 1


def epoch_seconds(run: dict) -> float | None:
    """One epoch's training time: total training seconds over the number of epochs."""
    total = train_seconds(run)
    if total is None or not _get(run, "train_time", "per_epoch_s"):
        return None  # nothing was trained (train=false): no training time to report
    return total / epochs(run)


def component_epoch_seconds(run: dict) -> dict[str, float]:
    """One epoch of each component's training (router, each domain's RM, ...), validation left
    out: `train_time.epoch_s_by_component`; files written before it: a composite method's
    `components.epoch_s`, a single fit's mean `per_epoch_s`, else its fit's wall seconds per epoch."""
    for keys in (("train_time", "epoch_s_by_component"), ("components", "epoch_s")):
        by = _get(run, *keys)
        if isinstance(by, dict) and by:
            return {str(k): float(v) for k, v in by.items() if _number(v) is not None}
    walls = component_seconds(run)
    per_epoch = [x for x in _get(run, "train_time", "per_epoch_s") or [] if _number(x) is not None]
    if len(walls) == 1 and per_epoch:
        return {next(iter(walls)): sum(per_epoch) / len(per_epoch)}
    n = epochs(run)
    return {name: s / n for name, s in walls.items()}


def epoch_seconds_sum(run: dict) -> float | None:
    """Table 3's Total: the sum of the components' one-epoch training seconds (None: nothing trained)."""
    parts = component_epoch_seconds(run) if _get(run, "train_time", "per_epoch_s") else {}
    return sum(parts.values()) if parts else None


def validation_epoch_seconds(run: dict) -> float | None:
    """Validation seconds per epoch of the run, every component's together (apart from training)."""
    by = _get(run, "train_time", "validation_s_by_component")
    if isinstance(by, dict) and by:
        return sum(float(v) for v in by.values() if _number(v) is not None)
    per = [x for x in _get(run, "train_time", "validation_s") or [] if _number(x) is not None]
    return sum(per) / epochs(run) if per else None


def inference_ms(run: dict) -> float | None:
    """Milliseconds per scored input (one text) at test time."""
    seconds = _number(_get(run, "inference", "seconds_per_input"))
    return None if seconds is None else 1000.0 * seconds


def inference_step_seconds(run: dict) -> float | None:
    """Seconds per step of the per-input protocol (one test pair scored alone), as the router
    paper's Table 6 reports; files without it: two inputs' seconds (a step scores a pair's two)."""
    per_step = _number(_get(run, "inference", "per_input", "seconds_per_step"))
    if per_step is not None:
        return per_step
    single = _number(_get(run, "inference", "per_input", "seconds_per_input"))
    return None if single is None else 2.0 * single


def inference_steps(run: dict) -> float | None:
    """How many steps (test pairs scored alone) the per-input figure was measured over."""
    steps = _number(_get(run, "inference", "per_input", "steps"))
    if steps is not None:
        return steps
    inputs = _number(_get(run, "inference", "per_input", "inputs"))
    return None if not inputs else inputs / 2.0


def pair_counts(run: dict, split: str) -> dict[str, int]:
    """{domain: pairs in `split`} from the run's own data record: the sum of its `composition`
    (where the pairs came from), else its `pairs` count; domains without pairs left out."""
    out = {}
    for name, counts in (run.get("data") or {}).items():
        if not isinstance(counts, dict):
            continue
        parts = _get(counts, "composition", split)
        n = sum(int(v) for v in parts.values() if _number(v) is not None) if isinstance(parts, dict) else \
            _number(_get(counts, "pairs", split))
        if n:
            out[str(name)] = int(n)
    return out


def composition(run: dict, split: str) -> dict[str, dict[str, int]]:
    """{domain: {source: pairs}} of `split` (results.json `data.<domain>.composition`)."""
    out = {}
    for name, counts in (run.get("data") or {}).items():
        parts = _get(counts, "composition", split) if isinstance(counts, dict) else None
        if isinstance(parts, dict) and parts:
            out[str(name)] = {str(k): int(v) for k, v in parts.items() if _number(v) is not None}
    return out


def inference_seconds(run: dict, form: str) -> float | None:
    """Seconds per scored input measured one pair at a time (`form` "per_input") or over the
    test batches ("batched")."""
    return _number(_get(run, "inference", form, "seconds_per_input"))


def params_by_component(run: dict) -> dict[str, dict[str, float]]:
    """{component: {"total", "trainable"}} parameter counts."""
    by = _get(run, "params", "by_component")
    if not isinstance(by, dict):
        return {}
    return {name: {k: v for k in ("total", "trainable") if (v := _number(_get(by, name, k))) is not None}
            for name in by}


def router_accuracy(run: dict) -> dict[str, float]:
    """{"average": the router's accuracy over routed test pairs, domain: its accuracy on the
    domain's pairs} for a method with a router (results.json `router`), else {}."""
    out = {"average": _number(_get(run, "router", "accuracy"))}
    per = _get(run, "router", "per_domain")
    out.update({d: _number(_get(per, d, "accuracy")) for d in per} if isinstance(per, dict) else {})
    return {k: v for k, v in out.items() if v is not None}


def absent_domains(run: dict) -> dict[str, str]:
    """{domain: why} for domains the run's data did not have."""
    out = {}
    for name, counts in (run.get("data") or {}).items():
        if isinstance(counts, dict) and counts.get("absent"):
            reason = counts.get("absent")
            out[name] = reason if isinstance(reason, str) else "absent"
    return out


def method_label(run: dict) -> str | None:
    """How the method names itself in reports (results.json `labels.method`)."""
    name = _get(run, "labels", "method")
    return name if isinstance(name, str) and name else None


def component_labels(run: dict) -> dict[str, str]:
    """{part: label} of the method's components (results.json `labels.components`)."""
    parts = _get(run, "labels", "components")
    return {str(k): v for k, v in parts.items() if isinstance(v, str)} if isinstance(parts, dict) else {}


def model_source(run: dict) -> str:
    """Where the backbone came from (the hub id or path in the run's config), or ""."""
    source = _get(run, "config", "model", "source")
    return source if isinstance(source, str) else ""
