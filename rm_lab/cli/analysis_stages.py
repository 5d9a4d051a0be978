"""`python -m rm_lab.analysis.stages`: The effect of post-training stages on reward-model quality: each stage against its base model."""
from __future__ import annotations

import argparse
import sys

from rm_lab.rundir.layout import RunDir
from rm_lab.studies.base_model.scores import TARGETS, scores_from_csv, scores_from_runs
from rm_lab.studies.base_model.stages import _markdown, read_stages, write_stage_report
from rm_lab.studies.base_model.zoo import STAGES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.analysis.stages", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", nargs="+", help=f"sweep or run folders holding {RunDir.RESULTS} files")
    source.add_argument("--scores", help="CSV of reward-model scores instead of runs: model, score")
    parser.add_argument("--stages", help="CSV of stages (model, family, stage, parent); default: the zoo's")
    parser.add_argument("--target", choices=TARGETS, default="auto")
    parser.add_argument("--out", default="reports/stages", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        entries = read_stages(args.stages) if args.stages else STAGES
        scores, info = scores_from_runs(args.runs, args.target) if args.runs else scores_from_csv(args.scores)
        report = write_stage_report(scores["score"], entries, args.out, info.get("target", ""))
    except (FileNotFoundError, ValueError) as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 2
    print(_markdown(report["summary"]))
    print(f"stage tables written to {args.out}/ (stage_effect.csv, stage_summary.csv, stage_effect.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
