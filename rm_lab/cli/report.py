"""python -m rm_lab.report SWEEP_OR_RUN_DIR... -> the papers' tables and plots in reports/.

    python -m rm_lab.report multirun/tables_offline                      # Tables 2-7 (+ RewardBench 2 where scored)
    python -m rm_lab.report multirun/tables_paper/<time> --paper-rows --similar 0.02   # as the paper prints them
    python -m rm_lab.report multirun/x/2026-01-01_10-00-00 --tables 2 3 --out reports/x
    python -m rm_lab.report multirun/backbones --tables 7 --models minilm-l6,tiny-deberta
    python -m rm_lab.report multirun/x --methods baseline,rodos           # only these rows
    python -m rm_lab.report multirun/x --searchpath my_conf               # + my_conf/method/*.yaml's methods
    python -m rm_lab.report multirun/x/2026-01-01_10-00-00 --wandb        # + one W&B run in the sweep's group
    python -m rm_lab.report --wandb-publish reports/wandb_report.json     # the saved W&B report (online)

Reads the runs' results.json files, and what each method declares (its tables, row order and
label: `python -m rm_lab.cli methods --long`). Writes <out>/table<N>.{md,csv,tex} and PNG plots,
and prints the tables. Failed or missing runs are marked and listed; they never stop the report.

--wandb logs the report as one run (job type "report") in the sweep's W&B group, the runs' own
project (rm_lab/report/wandb_run.py): the per-seed and per-method x domain tables, one bar chart
per domain with ± std error bars, the timing and parameter tables, the figures, and an artifact of
the results files and tables. It writes <out>/wandb_report.json, a report spec (panels grouped by
method, mean ± std) that --wandb-publish saves as a W&B report (pip install 'rm_lab[wandb-report]');
online with the package installed, --wandb saves it at once; offline it prints how to publish later.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from rm_lab.core.io import write_text_atomic
from rm_lab.report.grouping import Table
from rm_lab.report.paper_tables import TABLES, build_tables
from rm_lab.report.plots import plot_accuracy_vs_params, plot_domain_accuracy
from rm_lab.report.render import to_csv, to_latex, to_markdown
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.results import completed, is_debug, load_runs

SPEC_NAME = "wandb_report.json"


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rm_lab.report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("paths", nargs="*", help=f"sweep folders, run folders or {RunDir.RESULTS} files")
    p.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES, help="which tables")
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument("--methods", help="comma-separated methods to show, in order (default: the methods "
                   "that declare the table, plus any other present)")
    p.add_argument("--models", help="comma-separated backbones to show, in order (default: those present)")
    p.add_argument("--searchpath", action="append", default=[], metavar="DIR",
                   help="a config directory (as hydra.searchpath) whose method/*.yaml the tables expect too")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the noise test")
    p.add_argument("--paper-rows", action="store_true", help="Tables 2, 3 and 6 hold exactly the paper's rows "
                   "(each method on the backbones it declares: python -m rm_lab.cli methods --table 2 --runs)")
    p.add_argument("--similar", type=float, default=None, metavar="D",
                   help="also mark accuracies within D of the column's best (the paper's rule: 0.02), beside the test")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    w = p.add_argument_group("W&B")
    w.add_argument("--wandb", action="store_true", help="also log the report as one W&B run in the sweep's group "
                   f"and write <out>/{SPEC_NAME}")
    w.add_argument("--wandb-project", help="default: the runs' logger.wandb.project (else rm_lab)")
    w.add_argument("--wandb-entity", help="default: the runs' logger.wandb.entity")
    w.add_argument("--wandb-group", help="default: the runs' run_group (the sweep's folder)")
    w.add_argument("--wandb-mode", choices=("offline", "online"),
                   help="default: WANDB_MODE, else offline unless the runs logged online")
    w.add_argument("--wandb-publish", metavar="SPEC", help="save a report spec (--wandb's) as a W&B report")
    args = p.parse_args(argv)
    if not args.paths and not args.wandb_publish:
        p.error("give sweep or run folders (or --wandb-publish SPEC)")
    return args


@dataclass
class Written:
    runs: list[dict]
    tables: list[Table]
    files: list[Path]


def write_report(paths, tables=TABLES, out="reports", methods=None, models=None, alpha=0.05,
                 plots=True, searchpath=(), paper_rows=False, similar=None) -> Written:
    """Build and write the tables (and plots): the runs read, the tables built, the files written."""
    runs = load_runs(*paths)
    if not runs:
        raise FileNotFoundError(f"no {RunDir.RESULTS} under {', '.join(map(str, paths))}: run a sweep "
                                f"first (e.g. `make table2`, or python -m rm_lab -m seed=0,1)")
    out = Path(out)
    written: list[Path] = []
    built = build_tables(runs, tables, methods=methods, models=models, alpha=alpha, searchpath=searchpath,
                         paper_rows=paper_rows, similar=similar)
    built = [t for t in built if t.rows or t.name != "rewardbench2"]  # RewardBench 2: only when a run scored it
    for table in built:
        written.append(write_text_atomic(out / f"{table.name}.md", to_markdown(table)))
        written.append(write_text_atomic(out / f"{table.name}.csv", to_csv(table)))
        written.append(write_text_atomic(out / f"{table.name}.tex", to_latex(table)))
        if plots and table.name in ("table2", "table7"):
            for made in (plot_domain_accuracy(table, out / f"{table.name}_domain_accuracy.png"),
                         plot_accuracy_vs_params(table, out / f"{table.name}_accuracy_vs_params.png")):
                written += [made] if made else []
    done, debug = sum(completed(r) for r in runs), sum(is_debug(r) for r in runs)
    skipped = f" ({debug} debug runs skipped)" if debug else ""
    print(f"{done} of {len(runs)} runs completed{skipped}, read from: {', '.join(map(str, paths))}\n")
    for table in built:
        print(to_markdown(table))
    return Written(runs, built, written)


def report(paths, tables=TABLES, out="reports", methods=None, models=None, alpha=0.05,
           plots=True, searchpath=(), paper_rows=False, similar=None) -> list[Path]:
    """Build and write the tables (and plots); returns the files written."""
    return write_report(paths, tables, out, methods, models, alpha, plots, searchpath, paper_rows, similar).files


def to_wandb(written: Written, args) -> list[Path]:
    """The report as one W&B run in the sweep's group, its spec, and the spec published when online."""
    from rm_lab.report.wandb_run import log_sweep, wandb_target
    from rm_lab.report.wandb_spec import PublishError, later, publish_spec, report_spec, write_spec

    target = wandb_target(written.runs, args.paths, args.wandb_project, args.wandb_entity, args.wandb_group,
                          args.wandb_mode)
    spec = report_spec(written.tables, target)
    spec_path = write_spec(spec, Path(args.out) / SPEC_NAME)
    logged = log_sweep(written.runs, written.tables, written.files, target, args.out, args.paths, spec_path)
    print(f"W&B: run {logged.run_id} (job type report) in group {target.group!r} of project {target.project!r}, "
          f"{'offline, in ' + str(logged.run_dir) if logged.offline else logged.url}; tables: "
          f"{', '.join(logged.tables)}; {len(logged.charts)} per-domain charts; report spec: {spec_path}")
    if logged.offline:
        print(later(spec_path, [Path(p) for p in args.paths] + [Path(args.out)]))
    else:
        try:
            print(f"W&B report: {publish_spec(spec)}")
        except PublishError as err:
            print(f"W&B report not saved: {err}\n  then: python -m rm_lab.report --wandb-publish {spec_path}")
    return [*logged.charts, spec_path]


def publish(spec_path: str) -> int:
    from rm_lab.report.wandb_spec import PublishError, publish_spec, read_spec

    try:
        print(f"W&B report: {publish_spec(read_spec(spec_path))}")
    except (PublishError, ValueError) as err:
        print(f"python -m rm_lab.report: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.wandb_publish and not args.paths:
        return publish(args.wandb_publish)
    try:
        written = write_report(args.paths, args.tables, args.out, _names(args.methods), _names(args.models),
                               args.alpha, plots=not args.no_plots, searchpath=args.searchpath,
                               paper_rows=args.paper_rows, similar=args.similar)
        files = written.files + (to_wandb(written, args) if args.wandb else [])
    except (FileNotFoundError, ValueError) as err:
        print(f"python -m rm_lab.report: {err}", file=sys.stderr)
        return 2
    print("wrote:\n" + "\n".join(f"  {p}" for p in files))
    return publish(args.wandb_publish) if args.wandb_publish else 0


if __name__ == "__main__":
    sys.exit(main())
