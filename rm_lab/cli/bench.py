"""`python -m rm_lab.bench`: Throughput benchmark: `python -m rm_lab.bench [--out FILE] [overrides...]` (`make bench`)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rm_lab.cli import config_errors, count, no_stray_flags
from rm_lab.models.attention import NO_BF16, cpu_bf16_native
from rm_lab.studies.scoring_speed import run_test_pairs, scoring_speed
from rm_lab.studies.throughput import PRECISIONS, bench, table_line

LEFT_OUT = f"bf16 left out: {NO_BF16}; --precisions fp32,bf16 times it anyway"


def chosen_precisions(text: str, native=cpu_bf16_native) -> tuple[tuple[str, ...], str | None]:
    """`--precisions` as a tuple, and why bf16 was left out: `auto` is fp32 and bf16, or fp32 alone on a
    CPU without bf16 matrix instructions, where a bf16 run would take hours."""
    precisions = tuple(p.strip() for p in text.split(",") if p.strip())
    if precisions != ("auto",):
        return precisions, None
    return (("fp32", "bf16"), None) if native() else (("fp32",), LEFT_OUT)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=count, default=600, help="training pairs (default 600)")
    parser.add_argument("--test-pairs", type=count, default=200, help="test pairs (default 200)")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--run-dir", help="where the runs are written (default: a new temporary folder)")
    parser.add_argument("--precisions", default="auto",
                        help="training precisions, one run each, the first one scored (default auto: fp32,bf16, or "
                             "fp32 alone on a CPU without bf16 matrix instructions)")
    parser.add_argument("--no-scoring", action="store_true", help="training figures only")
    args, overrides = parser.parse_known_args(argv)
    no_stray_flags(parser, overrides)
    precisions, left_out = chosen_precisions(args.precisions)
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
    if left_out:
        result["left_out"] = left_out
    text = json.dumps(result, indent=1)
    print(text)
    print(table_line(result))
    if left_out:
        print(f"{parser.prog}: {left_out}", file=sys.stderr, flush=True)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
