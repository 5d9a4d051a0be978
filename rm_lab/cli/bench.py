"""`python -m rm_lab.bench`: Throughput benchmark: `python -m rm_lab.bench [--out FILE] [overrides...]` (`make bench`)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from rm_lab.cli import config_errors, count, no_stray_flags
from rm_lab.studies.scoring_speed import run_test_pairs, scoring_speed
from rm_lab.studies.throughput import PRECISIONS, bench, table_line


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=count, default=600, help="training pairs (default 600)")
    parser.add_argument("--test-pairs", type=count, default=200, help="test pairs (default 200)")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--run-dir", help="where the runs are written (default: a new temporary folder)")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="training precisions, one run each (default fp32,bf16: the first one is scored)")
    parser.add_argument("--no-scoring", action="store_true", help="training figures only")
    args, overrides = parser.parse_known_args(argv)
    no_stray_flags(parser, overrides)
    precisions = tuple(p.strip() for p in args.precisions.split(",") if p.strip())
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        parser.error(f"argument --precisions: {','.join(unknown) or 'none given'}: give some of {','.join(PRECISIONS)}")
    logging.basicConfig(level=logging.WARNING)
    with config_errors(parser.prog):
        result = bench(overrides, args.pairs, args.test_pairs, args.run_dir, precisions=precisions,
                       scoring=not args.no_scoring)
    if not args.no_scoring:
        fp32 = result if precisions[0] == "fp32" else result.get("fp32", {})
        result["scoring"] = scoring_speed(result["run_dir"], run_test_pairs(result["run_dir"]),
                                          peak_gflops=fp32.get("matmul_peak_gflops"))
    text = json.dumps(result, indent=1)
    print(text)
    print(table_line(result))
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
