"""python -m rm_lab.analysis: benchmark scores -> reward-model quality, from a base-model sweep.

    python -m rm_lab.analysis --runs multirun/base_model_sweep --benchmarks my_benchmarks.csv \\
        --default llama-3.1-8b-instruct --out reports/base_model
    python -m rm_lab.analysis --scores published_rewardbench.csv --benchmarks my_benchmarks.csv
    python -m rm_lab.analysis --runs multirun/base_model_sweep_offline \\
        --benchmarks rm_lab/studies/base_model/tables/benchmarks_synthetic_offline.csv      (offline; SYNTHETIC)

Start a benchmark table from rm_lab/studies/base_model/tables/benchmarks_template.csv.
"""
from __future__ import annotations

import argparse
import sys

from rm_lab.rundir.layout import RunDir
from rm_lab.studies.base_model.benchmarks import read_benchmarks
from rm_lab.studies.base_model.predictor import ALPHAS, DEGREES, L1_RATIOS
from rm_lab.studies.base_model.report import build_report
from rm_lab.studies.base_model.scores import TARGETS, scores_from_csv, scores_from_runs
from rm_lab.studies.base_model.selection_gain import SIZE_EDGES


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def _ints(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.analysis", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", nargs="+", help=f"sweep or run folders holding {RunDir.RESULTS} files")
    source.add_argument("--scores", help="CSV of reward-model scores instead of runs: model, score[, sections]")
    parser.add_argument("--benchmarks", required=True, help="benchmark table CSV (see the template)")
    parser.add_argument("--out", default="reports/base_model", help="output folder (default: %(default)s)")
    parser.add_argument("--target", choices=TARGETS, default="auto",
                        help="auto: RewardBench score when the runs have it, else mean accuracy over domains")
    parser.add_argument("--default", nargs="*", default=[], dest="defaults",
                        help="the default base model(s) the selection gain compares against")
    parser.add_argument("--size-groups", type=_floats, default=list(SIZE_EDGES),
                        help="size group edges in billions of parameters (default: 0,1,3,6,10,inf)")
    parser.add_argument("--k", type=_ints, default=list(range(5, 11)), help="top-k values (default: 5-10)")
    parser.add_argument("--folds", type=int, default=10, help="cross-validation folds (at most the models)")
    parser.add_argument("--degrees", type=_ints, default=list(DEGREES))
    parser.add_argument("--alphas", type=_floats, default=list(ALPHAS))
    parser.add_argument("--l1-ratios", type=_floats, default=list(L1_RATIOS))
    parser.add_argument("--seed", type=int, default=0, help="fold shuffling seed")
    parser.add_argument("--no-data-mixture", action="store_false", dest="data_mixture",
                        help="skip the tokenizer-estimated pre-training mixture features")
    parser.add_argument("--reference-dir", help="more reference text for the mixture: one <category>.txt each")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        table = read_benchmarks(args.benchmarks)
        scores, info = scores_from_runs(args.runs, args.target) if args.runs else scores_from_csv(args.scores)
        summary = build_report(scores, info, table, args.out, defaults=args.defaults, size_edges=args.size_groups,
                               ks=args.k, folds=args.folds, degrees=args.degrees, alphas=args.alphas,
                               l1_ratios=args.l1_ratios, seed=args.seed, data_mixture=args.data_mixture,
                               reference_dir=args.reference_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"python -m rm_lab.analysis: {err}", file=sys.stderr)
        return 2
    net = summary["elastic_net"]
    print(f"{summary['benchmark_table']}")
    print(f"{summary['models_matched']} base models; target: {summary['target']}")
    # the honest figure first: the nested out-of-fold RMSE; the CV RMSE chose the hyper-parameters on those folds
    honest, mean = net.get("out_of_fold_rmse"), net["baseline_rmse"]
    verdict = "" if honest is None or honest < mean else ": no better than predicting the mean"
    shown = "-" if honest is None else f"{honest:.4f}"
    print(f"Elastic Net: {net['best_params']}, nested out-of-fold RMSE {shown} against {mean:.4f} for the mean "
          f"predictor{verdict} (the CV RMSE that chose these settings, {net['cv_rmse']:.4f}, is optimistic); "
          f"selected: {', '.join(n for n, _ in net['selected']) or 'none'}")
    mixture = summary.get("data_mixture")
    if mixture:
        def rmse(value):
            return "-" if value is None else f"{value:.4f}"
        print(f"nested out-of-fold RMSE without data-mixture features {rmse(mixture['out_of_fold_rmse_without'])}, "
              f"with them {rmse(mixture['out_of_fold_rmse_with'])} (tokenizers measured: "
              f"{', '.join(mixture['measured']) or 'none'})")
    if summary["unmatched_models"]:
        print(f"scored but not in the benchmark table: {', '.join(summary['unmatched_models'])}")
    print(f"report written to {args.out}/ (summary.md, CSVs, elastic_net.json, PNGs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
