"""Find and read the runs' `results.json` files under sweep or run folders.

    from rm_lab.report.runs import load_runs, completed
    runs = load_runs("multirun/offline", "runs/default")   # every results.json below, sorted
    good = [r for r in runs if completed(r)]

Each run is the parsed file plus its "path". A file that cannot be read or parsed is still
returned, with status "unreadable", its "error", and the method/model/dataset/seed taken from
the folder layout (<method>/<model>/<dataset>/seed_<n>/...), so reports can list it as failed.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS_NAME = "results.json"
IDENTITY = ("method", "model", "dataset", "seed")
_SEED_DIR = re.compile(r"^seed_(-?\d+)$")


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
        if path.is_file():
            files = [path]
        else:
            files = sorted(path.rglob(RESULTS_NAME))
        for f in files:
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
    """One results.json as a dict with its "path"; a broken file becomes status "unreadable"."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            run = json.load(handle)
        if not isinstance(run, dict):
            raise ValueError(f"expected a JSON object, found {type(run).__name__}")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        run = {**identity_from_path(path), "status": "unreadable",
               "error": f"{type(err).__name__}: {err}"}
    else:
        for key, value in identity_from_path(path).items():
            run.setdefault(key, value)
        run.setdefault("status", "unknown")
    run["path"] = str(path)
    return run


def load_runs(*paths: str | Path) -> list[dict]:
    """Every results.json under the given sweep/run folders, parsed, each with its "path".

    Failed ("failed"), broken ("unreadable") and unfinished runs are included; check
    `completed(run)` before using metrics.
    """
    return [read_run(p) for p in find_results(*paths)]


def completed(run: dict) -> bool:
    """True when the run finished and wrote its accuracy."""
    return run.get("status") == "completed" and isinstance(run.get("accuracy"), dict)
