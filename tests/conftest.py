"""Tests compose the real config (hydra.compose) and shrink it; nothing needs the network."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rm_lab.core.config import compose
from rm_lab.rundir.results import REQUIRED, identity_from_path, write_results

FIXTURES = Path(__file__).parent / "fixtures"

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY = [
    "model=tiny-deberta",
    "dataset.max_pairs.train=24",
    "dataset.max_pairs.validation=8",
    "dataset.max_pairs.test=12",
    "dataset.batch_size=8",
    "logger=csv",
]


@pytest.fixture
def make_cfg(tmp_path):
    """compose(overrides) -> a config for a tiny run writing under tmp_path."""

    def _make(*overrides: str, out: str = "run"):
        cfg = compose([*TINY, *overrides])
        cfg.paths.output_dir = str(tmp_path / out)
        cfg.paths.cache_dir = str(tmp_path / "cache")
        OmegaConf.resolve(cfg)
        return cfg

    return _make


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


RUN_DEFAULTS = {
    "status": "completed", "method": "baseline", "model": "m", "dataset": "d", "seed": 0,
    "experiment": "test", "output_dir": "", "config": {}, "versions": {}, "data": {},
    "params": {"total": 0, "trainable": 0, "by_component": {}},
    "accuracy": {"per_domain": {}, "average": None, "overall": None, "ties": 0, "loss": None, "n": 0},
    "train_time": {"total_s": 0.0, "per_epoch_s": [], "by_component": {}, "pairs_per_s": None},
    "inference": {"seconds_total": 0.0, "inputs": 0, "seconds_per_input": None},
    "wall_time_s": 0.0, "error": "", "traceback": "",
}


@pytest.fixture
def write_run():
    """write_run(path, **fields) -> path: a results.json of the current schema with every key its
    status needs: `fields`, else the identity from the path's layout, else RUN_DEFAULTS (labels:
    the method's own name)."""

    def _write(path: str | Path, **fields) -> Path:
        record = {**RUN_DEFAULTS, **identity_from_path(path), **fields}
        record.setdefault("labels", {"method": record["method"], "components": {}})
        keep = set(REQUIRED[record["status"]]) | set(fields)
        return write_results(path, {k: v for k, v in record.items() if k in keep})

    return _write


# -- fault injection tally (tests/test_fault_injection.py) ------------------------------------------
FAULT_CASE = "fault_case"


@pytest.fixture
def fault_case(request):
    """fault_case(name) -> a record {name, clear, intact} the test fills in as its checks pass;
    the session ends with the tally of every record (passed on by pytest-xdist's workers)."""

    def _case(name: str) -> dict:
        case = {"name": name, "clear": False, "intact": False}
        request.node.user_properties.append((FAULT_CASE, case))
        return case

    return _case


def pytest_terminal_summary(terminalreporter):
    cases = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, case in getattr(report, "user_properties", ()):
                if key == FAULT_CASE:
                    cases[(report.nodeid, case["name"])] = case
    if not cases:
        return
    clear = sum(c["clear"] for c in cases.values())
    lost = sorted(c["name"] for c in cases.values() if not c["intact"])
    terminalreporter.write_sep("-", "fault injection")
    terminalreporter.write_line(f"{len(cases)} cases tried, {clear} clear errors, "
                                + ("nothing lost" if not lost else f"something lost in {len(lost)}: {lost}"))
