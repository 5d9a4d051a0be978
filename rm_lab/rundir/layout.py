"""RunDir: every path in a run's folder, named in one place.

    run = RunDir(cfg.paths.output_dir)
    run.results                       # results.json: the run's record (rm_lab/rundir/results.py)
    run.last_checkpoint()             # checkpoints/last.ckpt: what a killed single-fit run resumes from
    run.last_checkpoint("router")     # checkpoints/<part>/last.ckpt: the same for one part of a composite
    run.best_checkpoint               # checkpoints/best.ckpt: the weights the test set was scored with
    run.callback_checkpoints("router")  # checkpoints/lightning/<part>/: callbacks=[model_checkpoint]'s files
    run.components                    # components/: a composite method's stored parts (rm_lab/rundir/components.py)
    run.components_manifest           # components/manifest.json: which part is in which file
    run.component_file("reward_model/shp")   # components/reward_model-shp.pt
    run.csv_dir, run.metrics          # csv/ and csv/metrics.csv: the CSV logger's folder and file
    run.train_log                     # train.log: Hydra's job log
    run.hydra_dir                     # .hydra/: Hydra's resolved config and overrides
    run.lock, run.lock_owner          # .run.lock and .run.lock.json: one live run per folder (rm_lab/rundir/lock.py)
    run.export_manifest, run.model_card       # an export folder's manifest.json and README.md

An export folder (python -m rm_lab.export) is a RunDir too: `--format run` copies the run's
results.json and weights under the same names, and both formats add `export_manifest` and
`model_card`. The two manifests share one schema with a `kind` (rm_lab/rundir/manifest.py):
`components/manifest.json` is kind "components", the export's `manifest.json` kind "export".

Nothing else in the package spells these names (tests/test_rundir.py checks it). The CSV
logger's folder is set in conf/logger/csv.yaml (`name: csv`, `version: ""`) and Hydra names its
log after the command's module (rm_lab/cli/train.py); tests/test_rundir.py checks both agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    """The folder of one run (or of an export of one): `root` and the paths below it."""

    root: Path

    RESULTS = "results.json"
    CHECKPOINTS = "checkpoints"
    LAST = "last.ckpt"
    BEST = "best.ckpt"
    LIGHTNING_CHECKPOINTS = "lightning"  # checkpoints/lightning/: Lightning's ModelCheckpoint (conf/callbacks)
    COMPONENTS = "components"
    MANIFEST = "manifest.json"        # components/manifest.json, and an export folder's manifest.json
    COMPONENT_SUFFIX = ".pt"
    CSV = "csv"
    METRICS = "metrics.csv"
    TRAIN_LOG = "train.log"
    HYDRA = ".hydra"
    LOCK = ".run.lock"
    LOCK_OWNER = ".run.lock.json"
    MODEL_CARD = "README.md"
    TOKENIZER_CONFIG = "tokenizer_config.json"  # a transformers export's tokenizer settings

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    def __str__(self) -> str:
        return str(self.root)

    # -- the run's record ---------------------------------------------------------------------
    @property
    def results(self) -> Path:
        return self.root / self.RESULTS

    # -- checkpoints --------------------------------------------------------------------------
    @property
    def checkpoints(self) -> Path:
        return self.root / self.CHECKPOINTS

    def last_checkpoint(self, part: str | None = None) -> Path:
        """Where a fit checkpoints as it goes: checkpoints/last.ckpt for a method trained in one
        fit, checkpoints/<part>/last.ckpt for each part of a composite one (router,
        reward_model/<domain>)."""
        return self.checkpoints / (part or "") / self.LAST

    @property
    def best_checkpoint(self) -> Path:
        """The weights the test set was scored with (single-fit methods)."""
        return self.checkpoints / self.BEST

    def callback_checkpoints(self, part: str | None = None) -> Path:
        """Where Lightning's ModelCheckpoint (callbacks=[model_checkpoint]) keeps a fit's files:
        checkpoints/lightning/<part>/, apart from rm_lab's own last.ckpt and best.ckpt."""
        return self.checkpoints / self.LIGHTNING_CHECKPOINTS / (part or "")

    # -- a composite method's stored parts -----------------------------------------------------
    @property
    def components(self) -> Path:
        return self.root / self.COMPONENTS

    @property
    def components_manifest(self) -> Path:
        return self.components / self.MANIFEST

    @classmethod
    def component_file_name(cls, name: str) -> str:
        """The file of one component in components/ ("reward_model/shp" -> "reward_model-shp.pt")."""
        return name.replace("/", "-") + cls.COMPONENT_SUFFIX

    def component_file(self, name: str) -> Path:
        return self.components / self.component_file_name(name)

    # -- logs ---------------------------------------------------------------------------------
    @property
    def csv_dir(self) -> Path:
        """The CSV logger's folder (conf/logger/csv.yaml: save_dir the run's folder, name csv, no version)."""
        return self.root / self.CSV

    @property
    def metrics(self) -> Path:
        return self.csv_dir / self.METRICS

    @property
    def train_log(self) -> Path:
        return self.root / self.TRAIN_LOG

    @property
    def hydra_dir(self) -> Path:
        return self.root / self.HYDRA

    # -- one live run per folder ----------------------------------------------------------------
    @property
    def lock(self) -> Path:
        """The OS lock a live run holds (released by the OS when its process dies, even by SIGKILL)."""
        return self.root / self.LOCK

    @property
    def lock_owner(self) -> Path:
        """Who holds the lock: pid, host, start time (what a refused run names)."""
        return self.root / self.LOCK_OWNER

    # -- an export folder ---------------------------------------------------------------------
    @property
    def export_manifest(self) -> Path:
        return self.root / self.MANIFEST

    @property
    def model_card(self) -> Path:
        return self.root / self.MODEL_CARD

    @property
    def tokenizer_config(self) -> Path:
        return self.root / self.TOKENIZER_CONFIG

    def relative(self, path: str | Path) -> Path:
        """`path` relative to the folder (how an export lists the files it copied)."""
        return Path(path).relative_to(self.root)
