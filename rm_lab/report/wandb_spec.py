"""A sweep's W&B report as a spec file, and the spec saved as a W&B report.

    spec = report_spec(tables, target)                      # plain JSON: sections of panels
    write_spec(spec, "reports/x/wandb_report.json")
    url = publish_spec(read_spec("reports/x/wandb_report.json"))   # needs wandb-workspaces, online

The spec needs nothing but this module to write; publishing it takes the optional
`wandb-workspaces` package (`pip install 'rm_lab[wandb-report]'`), a W&B login and the runs
uploaded (`wandb sync` for offline runs):

    python -m rm_lab.report --wandb-publish reports/x/wandb_report.json

Every panel reads the sweep's runs (the runs whose config `run_group` is the sweep's group) and
groups them by method (`run_method`): bars of the mean with ± std ranges over seeds for each
domain's test accuracy and the average, validation accuracy over training steps, and the costs
(parameters, 1-epoch training time, inference time per input). The report's own tables follow
as Markdown, and the aggregate run holds them as W&B tables (rm_lab/report/wandb_run.py).
"""
from __future__ import annotations

import json
from pathlib import Path

from rm_lab.core.io import write_text_atomic
from rm_lab.report.grouping import Table
from rm_lab.report.render import to_markdown

SPEC_KIND = "rm_lab.wandb_report"
SPEC_VERSION = 1
GROUP_BY = "run_method"  # the runs' config field panels group by (conf/logger/wandb.yaml)
EXTRA = "wandb-report"   # the optional extra that installs wandb-workspaces
COST_COLUMNS = {"params/total": "Parameters", "train_epoch_s/total": "1-epoch training time (s)",
                "inference_ms": "Inference (ms / input)"}


class PublishError(RuntimeError):
    """The spec cannot be published here; the message says what to do."""


def _bar(title: str, metric: str) -> dict:
    return {"type": "bar", "title": title, "metrics": [metric], "groupby": GROUP_BY,
            "aggregate": "mean", "range": "stddev"}


def report_spec(tables: list[Table], target) -> dict:
    """The report of a sweep: title, where its runs are, and sections of panels grouped by method."""
    accuracy = next((t for t in tables if t.name in ("table2", "table7")), None)
    sections = []
    if accuracy is not None:
        sections.append({"title": "Test accuracy per domain (mean ± std over seeds, by method)",
                         "panels": [_bar(c.label, c.key) for c in accuracy.columns if c.key.startswith("accuracy/")]})
    sections.append({"title": "Validation accuracy during training (mean ± std over seeds, by method)",
                     "panels": [{"type": "line", "title": "Validation average accuracy", "x": "trainer/global_step",
                                 "y": ["val/accuracy/average"], "groupby": GROUP_BY, "aggregate": "mean",
                                 "range": "stddev"}]})
    sections.append({"title": "Cost (mean ± std over seeds, by method)",
                     "panels": [_bar(label, key) for key, label in COST_COLUMNS.items()]})
    sections.append({"title": "Tables", "markdown": "\n\n".join(to_markdown(t) for t in tables)})
    methods = {}
    if accuracy is not None:
        for row in accuracy.rows:
            cell = row.cells.get("accuracy/average")
            if cell is not None:
                methods.setdefault(row.method, {"label": accuracy.row_labels(row)[0], "rows": []})["rows"].append(
                    {"model": row.model, "dataset": row.dataset, "setting": row.setting,
                     "accuracy/average": {"mean": cell.summary.mean, "std": cell.summary.std, "n": cell.summary.n}})
    return {"kind": SPEC_KIND, "version": SPEC_VERSION, "title": f"rm_lab sweep {target.group}"[:128],
            "description": "Per-domain pairwise accuracy, validation curves and costs of the sweep's runs, "
                           "grouped by method (mean ± std over seeds).",
            "project": target.project, "entity": target.entity, "group": target.group,
            "aggregate_run": {"group": target.group, "job_type": "report"},
            "runset": {"name": target.group[-64:], "filters": f"Config('run_group') = '{target.group}'",
                       "groupby": GROUP_BY},
            "sections": sections, "methods": methods}


def write_spec(spec: dict, path: str | Path) -> Path:
    return write_text_atomic(Path(path), json.dumps(spec, indent=2, default=str) + "\n")


def read_spec(path: str | Path) -> dict:
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a report spec ({err}); write one with python -m rm_lab.report SWEEP "
                         "--wandb") from err
    if not isinstance(spec, dict) or spec.get("kind") != SPEC_KIND:
        raise ValueError(f"{path}: not a report spec (kind {SPEC_KIND!r}); write one with python -m "
                         "rm_lab.report SWEEP --wandb")
    return spec


def _panel(wr, panel: dict):
    group = wr.Config(panel["groupby"])
    if panel["type"] == "bar":
        return wr.BarPlot(title=panel["title"], metrics=panel["metrics"], orientation="v", groupby=group,
                          groupby_aggfunc=panel["aggregate"], groupby_rangefunc=panel["range"])
    if panel["type"] == "line":
        return wr.LinePlot(title=panel["title"], x=panel["x"], y=panel["y"], groupby=group,
                           groupby_aggfunc=panel["aggregate"], groupby_rangefunc=panel["range"])
    raise ValueError(f"report spec: unknown panel type {panel['type']!r}")


def publish_spec(spec: dict) -> str:
    """Save the spec as a W&B report (wandb-workspaces, online); returns its URL."""
    import os

    if os.environ.get("WANDB_MODE") in ("offline", "disabled"):
        raise PublishError(f"WANDB_MODE={os.environ['WANDB_MODE']}: a report is saved on the W&B server; "
                           "unset WANDB_MODE, `wandb login`, and run this again")
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError:
        raise PublishError(f"saving a W&B report needs the wandb-workspaces package: pip install "
                           f"'rm_lab[{EXTRA}]' (or pip install wandb-workspaces), then run this again") from None
    runset = wr.Runset(entity=spec.get("entity") or "", project=spec["project"], name=spec["runset"]["name"],
                       filters=spec["runset"]["filters"], groupby=[f"config.{spec['runset']['groupby']}"])
    blocks = [wr.P(text=spec["description"])]
    for section in spec["sections"]:
        blocks.append(wr.H2(text=section["title"]))
        if section.get("panels"):
            blocks.append(wr.PanelGrid(runsets=[runset], panels=[_panel(wr, p) for p in section["panels"]]))
        if section.get("markdown"):
            blocks.append(wr.MarkdownBlock(text=section["markdown"]))
    where = {"entity": spec["entity"]} if spec.get("entity") else {}
    report = wr.Report(project=spec["project"], title=spec["title"], description=spec["description"],
                       blocks=blocks, **where)
    report.save()
    return report.url


def later(spec_path: Path, sync_dirs: list[Path]) -> str:
    """How to publish an offline sweep's report later: upload the runs, then save the spec."""
    return "\n".join([
        "W&B is offline: the runs and the report's run are on disk, the report is a spec. To publish them:",
        "  wandb login",
        "  find " + " ".join(str(d) for d in sync_dirs) + " -type d -name 'offline-run-*' -exec wandb sync {} +",
        f"  pip install 'rm_lab[{EXTRA}]'          # wandb-workspaces, once",
        f"  python -m rm_lab.report --wandb-publish {spec_path}",
    ])
