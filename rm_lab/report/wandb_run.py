"""A sweep's report as one W&B run in the sweep's group (`python -m rm_lab.report SWEEP --wandb`).

    target = wandb_target(runs, ["multirun/x/2026-01-01_10-00-00"])   # the runs' project, entity, group
    logged = log_sweep(runs, tables, files, target, out="reports/x")

The run (job type "report") holds, all from the report's own tables (the same numbers as its CSVs):
- tables: `runs` (one row per seed: identity, status, every table column's value),
  `accuracy_summary` (method x domain: mean, std, n over seeds), `params_by_component`,
  and each paper table as its CSV (`table2`, `table3`: parameters and 1-epoch training time,
  `table6`: inference time, `table7`);
- images: one bar chart per domain (mean ± std error bars over seeds, `charts/<table>/<column>`)
  and every figure the report wrote (`figures/<name>`);
- an artifact (type `sweep-results`) with every run's results.json (`results/<path>`) and the
  rendered tables and figures (`tables/<file>`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rm_lab.core.config import group_of
from rm_lab.report.grouping import Table, settings
from rm_lab.report.plots import plot_column_bars
from rm_lab.report.render import csv_rows
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.results import completed

JOB_TYPE = "report"
ARTIFACT_TYPE = "sweep-results"
DEFAULT_PROJECT = "rm_lab"
SUMMARY_TABLES = ("table2", "table7")  # the tables whose accuracy columns get per-domain charts


@dataclass(frozen=True)
class Target:
    """Where the aggregate run goes: the sweep's runs' own W&B project, entity and group."""

    project: str
    entity: str | None
    group: str
    mode: str  # "offline" | "online"


def _recorded(runs: list[dict], *keys) -> list:
    values = []
    for run in runs:
        node = run.get("config") or {}
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None and node not in values:
            values.append(node)
    return values


def wandb_target(runs: list[dict], paths, project: str | None = None, entity: str | None = None,
                 group: str | None = None, mode: str | None = None) -> Target:
    """The runs' W&B project, entity, mode (their `logger.wandb` config) and group (their
    `run_group`: the sweep's folder), each unless given; ValueError naming the choices when the
    runs disagree."""
    def one(found: list, what: str, option: str, default=None):
        if len(found) > 1:
            raise ValueError(f"the runs were logged with {len(found)} W&B {what}s ({', '.join(map(str, found))}): "
                             f"report one sweep at a time, or choose with {option}")
        return found[0] if found else default

    if group is None:
        recorded = _recorded(runs, "run_group")
        if not recorded and len(paths) != 1:
            raise ValueError("the runs record no run_group (an older rm_lab): name the W&B group with --wandb-group")
        group = one(recorded, "group", "--wandb-group") or group_of(paths[0])
    project = project or one(_recorded(runs, "logger", "wandb", "project"), "project", "--wandb-project",
                             DEFAULT_PROJECT)
    entity = entity or one(_recorded(runs, "logger", "wandb", "entity"), "entity", "--wandb-entity")
    if mode is None:
        offline = _recorded(runs, "logger", "wandb", "offline")
        mode = os.environ.get("WANDB_MODE") or ("online" if offline == [False] else "offline")
    return Target(project=project, entity=entity, group=group, mode=mode)


def artifact_name(group: str) -> str:
    """An artifact name for a group (letters, digits, '-', '_', '.')."""
    return "results-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", group).strip("-.") or "sweep")


def _value(x):
    return x if x is None or isinstance(x, (str, int)) else float(x)


def per_seed_rows(runs: list[dict], tables: list[Table]) -> tuple[list[str], list[list]]:
    """One row per run: identity, status, setting and the value of every table column."""
    columns, seen = [], set()
    for table in tables:
        for col in table.columns:
            if col.key not in seen:
                seen.add(col.key)
                columns.append(col)
    setting = settings(runs)
    head = ["method", "model", "dataset", "setting", "seed", "status"] + [c.key for c in columns] + ["path"]
    rows = []
    for run in sorted(runs, key=lambda r: (str(r.get("method")), str(r.get("model")), str(r.get("seed")))):
        values = [c.value(run) if completed(run) else None for c in columns]
        rows.append([str(run.get("method")), str(run.get("model")), str(run.get("dataset")),
                     setting.get(id(run), ""), run.get("seed"), run.get("status")]
                    + [_value(v) for v in values] + [run.get("path")])
    return head, rows


def accuracy_summary_rows(table: Table) -> tuple[list[str], list[list]]:
    """Method x domain (and the average): mean, std and n over seeds, as the table's CSV has them."""
    head = ["method", "method_label", "model", "dataset", "setting", "domain", "domain_label", "mean", "std", "n"]
    rows = []
    for row in table.rows:
        for col in table.columns:
            cell = row.cells.get(col.key)
            if not col.key.startswith("accuracy/") or cell is None:
                continue
            s = cell.summary
            rows.append([row.method, table.row_labels(row)[0], row.model, row.dataset, row.setting,
                         col.key.split("/", 1)[1], col.label, _value(s.mean), _value(s.std), s.n])
    return head, rows


def params_rows(table: Table, runs_of) -> tuple[list[str], list[list]]:
    """Parameters by component of each row (the mean over its seeds; counts do not change with the seed)."""
    head = ["method", "model", "dataset", "setting", "component", "total", "trainable"]
    rows = []
    for row in table.rows:
        counts: dict[str, list] = {}
        for run in runs_of(row):
            for name, c in ((run.get("params") or {}).get("by_component") or {}).items():
                counts.setdefault(name, []).append(c)
        for name, cs in counts.items():
            mean = {k: sum(c.get(k, 0) for c in cs) / len(cs) for k in ("total", "trainable")}
            rows.append([row.method, row.model, row.dataset, row.setting, name, mean["total"], mean["trainable"]])
    return head, rows


@dataclass(frozen=True)
class Logged:
    run_id: str
    run_dir: Path          # the run's local folder (offline: what `wandb sync` uploads)
    url: str | None        # online runs
    offline: bool
    tables: list[str]
    charts: list[Path]


def _relative(path: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return path.name


def log_sweep(runs: list[dict], tables: list[Table], files: list[Path], target: Target, out: str | Path,
              paths=(), spec: Path | None = None) -> Logged:
    """Log the aggregate run (see the module's docstring); `files`: what the report wrote."""
    import wandb

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    charts: list[Path] = []
    for table in tables:
        if table.name in SUMMARY_TABLES:
            for col in table.columns:
                if col.key.startswith("accuracy/"):
                    made = plot_column_bars(table, col.key, out / f"{table.name}_{col.key.replace('/', '_')}.png")
                    charts += [made] if made else []
    run = wandb.init(project=target.project, entity=target.entity, group=target.group, job_type=JOB_TYPE,
                     name=f"report/{target.group}", dir=str(out), mode=target.mode, tags=[JOB_TYPE],
                     config={"report_group": target.group, "report_paths": [str(p) for p in paths],
                             "report_tables": [t.name for t in tables], "runs": len(runs)})
    try:
        logged: dict = {}

        def table(key, head_rows):
            head, rows = head_rows
            logged[key] = wandb.Table(columns=head, data=rows)

        table("runs", per_seed_rows(runs, tables))
        first = next((t for t in tables if t.name in SUMMARY_TABLES), None)
        if first is not None:
            table("accuracy_summary", accuracy_summary_rows(first))
        if tables:
            table("params_by_component", params_rows(tables[0], lambda row: row.runs))
        for t in tables:
            table(t.name, csv_rows(t))
        for path in charts:
            name = path.stem.split("_", 1)
            logged[f"charts/{name[0]}/{name[1]}"] = wandb.Image(str(path), caption=path.stem)
        for path in files:
            if path.suffix == ".png" and path not in charts:
                logged[f"figures/{path.stem}"] = wandb.Image(str(path), caption=path.stem)
        run.log(logged)
        done = sum(completed(r) for r in runs)
        run.summary.update({"runs/total": len(runs), "runs/completed": done, "runs/failed": len(runs) - done})

        artifact = wandb.Artifact(artifact_name(target.group), type=ARTIFACT_TYPE,
                                  description=f"{RunDir.RESULTS} of every run of {target.group} and the report's tables",
                                  metadata={"group": target.group, "runs": len(runs), "completed": done})
        roots = [Path(p) for p in paths]
        for r in runs:
            if r.get("path") and Path(r["path"]).exists():
                artifact.add_file(r["path"], name=f"results/{_relative(Path(r['path']), roots)}")
        for path in [*files, *charts, *([spec] if spec else [])]:
            artifact.add_file(str(path), name=f"tables/{path.name}")
        run.log_artifact(artifact)
        result = Logged(run.id, Path(run.dir).parent, None if target.mode == "offline" else run.url,
                        target.mode == "offline", sorted(k for k in logged if not k.startswith(("charts", "figures"))),
                        charts)
    finally:
        run.finish()
        wandb.teardown()
    return result
