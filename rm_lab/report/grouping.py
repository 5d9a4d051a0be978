"""A report table: rows (method, backbone, dataset) x columns, each cell summarised over seeds.

Rows come from the runs' results.json files, grouped by (method, model, dataset) and by every
other config value that differs between those runs (a learning-rate sweep gives one row per
learning rate, labelled by what differs: runs of different settings are never averaged as if
they were seeds); a row that
was expected (a method of the paper, a backbone asked for) but has no completed run is kept as
a marked empty row, and every failed run is listed under the table. Columns with a direction
("high" or "low" is better) get the noise test of `stats.py` against the column's best row.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rm_lab.report.stats import BEST, TEST_NAME, Summary, verdict
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.results import completed, is_debug, method_label

Key = tuple[str, str, str, str]  # (method, model, dataset, setting); setting "" unless runs differ
# config keys that do not make a different setting: the seed, where outputs go, how it is logged,
# whether the job was resumed and how often it saved a resume point (a resumed run equals an
# uninterrupted one, so the two halves of a sweep finished with resume=true are one row)
NOT_A_SETTING = ("seed", "paths", "logger", "experiment_name", "run_group", "hydra",
                 "resume", "resume_accept_changes", "checkpoint.every_n_steps", "checkpoint.last")


@dataclass
class Column:
    key: str                                 # CSV name, e.g. "accuracy/hh_rlhf"
    label: str                               # header, e.g. "Anthropic HH"
    value: Callable[[dict], float | None]    # one run's number
    kind: str = "accuracy"                   # how to format: accuracy | params | percent | seconds | ms
    better: str | None = None                # "high" | "low" | None (no noise test)


@dataclass
class Cell:
    summary: Summary
    verdict: str | None = None               # best | within_noise | differs | untested
    p: float | None = None
    similar: bool | None = None              # within the table's `similar` of the best mean (None: not asked)


@dataclass
class Row:
    key: Key
    runs: list[dict] = field(default_factory=list)        # completed runs, one per seed
    failed: list[dict] = field(default_factory=list)      # failed or unreadable runs
    cells: dict[str, Cell] = field(default_factory=dict)
    part: str = ""                                        # a part of the dataset (Tables 4, 5: a domain)

    @property
    def domain(self) -> str:
        return self.part

    @property
    def method(self) -> str:
        return self.key[0]

    @property
    def model(self) -> str:
        return self.key[1]

    @property
    def dataset(self) -> str:
        return self.key[2]

    @property
    def setting(self) -> str:
        return self.key[3] if len(self.key) > 3 else ""

    @property
    def seeds(self) -> list:
        return [r.get("seed") for r in self.runs]

    @property
    def status(self) -> str:
        if not self.runs:
            return "failed" if self.failed else "missing"
        return "partial" if self.failed else "ok"

    @property
    def method_label(self) -> str | None:
        """The method's label as its runs wrote it (results.json `labels.method`)."""
        return next((name for run in self.runs + self.failed if (name := method_label(run))), None)


@dataclass
class Table:
    name: str                                # file stem, e.g. "table2"
    title: str
    columns: list[Column]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.05
    similar: float | None = None             # the paper's rule: an accuracy within this of the best is similar
    label_fields: tuple[str, ...] = ("method", "model")   # + "dataset" when rows span several
    names: dict[str, dict[str, str]] = field(default_factory=dict)  # label field -> {name: shown as}

    @property
    def labels(self) -> tuple[str, ...]:
        several = len({r.dataset for r in self.rows}) > 1
        return self.label_fields + (("dataset",) if several and "dataset" not in self.label_fields else ())

    def row_labels(self, row: Row) -> list[str]:
        """The row's label fields as shown: a method as its own runs name it, else through
        `names`, else the raw name."""
        shown = []
        for f in self.labels:
            name = getattr(row, f)
            own = row.method_label if f == "method" else None
            shown.append(own or self.names.get(f, {}).get(name, name))
        if row.setting:  # runs of another setting: say which
            shown[0] = f"{shown[0]} [{row.setting}]"
        return shown


def _identity(run: dict) -> tuple[str, str, str]:
    return (str(run.get("method", "?")), str(run.get("model", "?")), str(run.get("dataset", "?")))


def _flat(node, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if name not in NOT_A_SETTING and name.split(".")[0] not in NOT_A_SETTING:
                out.update(_flat(value, name))
        return out
    return {prefix: repr(node) if isinstance(node, str) and not node else str(node)}


def settings(runs: list[dict]) -> dict[int, str]:
    """{id(run): "key=value, ..."}: the config values in which runs of the same method, model
    and dataset differ ("" for runs that differ in their seed only)."""
    out: dict[int, str] = {}
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault(_identity(run), []).append(run)
    for group in groups.values():
        flats = [_flat(run.get("config") or {}) for run in group]
        keys = sorted({k for f in flats for k in f})
        differ = [k for k in keys if len({f.get(k) for f in flats if f}) > 1]
        for run, flat in zip(group, flats):
            out[id(run)] = ", ".join(f"{k}={flat.get(k, '-')}" for k in differ) if flat else ""
    return out


def group_runs(runs: list[dict]) -> tuple[dict[Key, Row], list[str]]:
    """Rows keyed by (method, model, dataset, setting); a seed run twice with the same setting
    keeps its last file (by path)."""
    rows: dict[Key, Row] = {}
    notes: list[str] = []
    debug = [run for run in runs if is_debug(run)]
    setting = settings([run for run in runs if not is_debug(run)])  # a debug run's switches make no setting
    if debug:
        notes.append(f"skipped {len(debug)} debug run(s) ({', '.join(sorted({str(r['debug']) for r in debug}))}): "
                     + ", ".join(str(r.get("path")) for r in sorted(debug, key=lambda r: r.get("path", ""))))
    for run in sorted(runs, key=lambda r: r.get("path", "")):
        if is_debug(run):
            continue
        key = (*_identity(run), setting.get(id(run), ""))
        row = rows.setdefault(key, Row(key))
        if not completed(run):
            row.failed.append(run)
            continue
        for i, old in enumerate(row.runs):
            if old.get("seed") == run.get("seed"):
                notes.append(f"seed {run.get('seed')} of {label_of(row)} appears twice; "
                             f"using {run.get('path')} (not {old.get('path')})")
                row.runs[i] = run
                break
        else:
            row.runs.append(run)
    # a failed seed that also completed in another file (a rerun) is noted, not counted as failed
    for row in rows.values():
        done = {r.get("seed") for r in row.runs}
        for r in row.failed:
            if r.get("seed") in done and r.get("seed") is not None:
                notes.append(f"seed {r.get('seed')} of {label_of(row)} failed in {r.get('path')} "
                             f"but completed in another run; using the completed one")
        row.failed = [r for r in row.failed if r.get("seed") not in done or r.get("seed") is None]
    return rows, notes


def label_of(row: Row) -> str:
    return f"{row.method} / {row.model} / {row.dataset}" + (f" [{row.setting}]" if row.setting else "")


def fill(table: Table) -> Table:
    """Summarise each row's runs per column, then run the noise test against each column's best."""
    for row in table.rows:
        for col in table.columns:
            values = [v for v in (col.value(r) for r in row.runs) if v is not None]
            if values:
                row.cells[col.key] = Cell(Summary(values))
    for col in table.columns:
        if col.better not in ("high", "low"):
            continue
        rows = [r for r in table.rows if col.key in r.cells]
        if not rows:
            continue
        sign = 1 if col.better == "high" else -1
        best = max(rows, key=lambda r: sign * r.cells[col.key].summary.mean)
        best_values = best.cells[col.key].summary.values
        best_mean = best.cells[col.key].summary.mean
        for row in rows:
            cell = row.cells[col.key]
            if row is best:
                cell.verdict = BEST
            else:
                cell.verdict, cell.p = verdict(best_values, cell.summary.values, table.alpha)
            if table.similar is not None and col.kind == "accuracy":
                cell.similar = abs(cell.summary.mean - best_mean) < table.similar
    return table


def standard_notes(table: Table) -> list[str]:
    """Legend, missing rows, seeds short of the table's usual count, failed runs."""
    notes = []
    if any(c.better for c in table.columns):
        notes.append(f"Mean ± sample std over seeds. Bold: the column's best mean. †: within noise of "
                     f"the best ({TEST_NAME}, p ≥ {table.alpha:g}); unmarked: differs from the best; "
                     f"?: too few seeds to test (fewer than 2).")
    if table.similar is not None and any(c.better and c.kind == "accuracy" for c in table.columns):
        notes.append(f"≈: an accuracy within {table.similar:g} of the column's best mean, which the paper "
                     f"counts as statistically similar (its rule, beside the test above).")
    counts = [len(r.runs) for r in table.rows if r.runs]
    usual = max(counts) if counts else 0
    for row in table.rows:
        if row.status == "missing":
            notes.append(f"— {label_of(row)}: not run (no {RunDir.RESULTS}).")
        elif row.status == "failed":
            notes.append(f"— {label_of(row)}: every run failed.")
        elif len(row.runs) < usual:
            notes.append(f"{label_of(row)}: {len(row.runs)} of {usual} seeds completed "
                         f"(seeds {sorted(row.seeds, key=str)}).")
    for row in table.rows:
        for run in row.failed:
            error = str(run.get("error") or run.get("status")).strip().splitlines()
            notes.append(f"failed run: {label_of(row)} seed {run.get('seed')}: "
                         f"{error[0] if error else run.get('status')} ({run.get('path')})")
    return notes
