"""`python -m rm_lab.cli.bench_data`: paper-size data in a minute: `python -m rm_lab.cli.bench_data [--data DIR] [--scale S] [--out FILE] [overrides...]` (`make bench-data`).

Builds the five domains at the router paper's sizes (about 140,000 train pairs) as local files from
the bundled samples (rm_lab/studies/paper_data.py says how), then runs two jobs of a sweep on them
with an empty cache, each stopped after its first training step: the first reads, converts,
splits, leak-checks and tokenizes everything; the second starts from the caches. Prints one JSON
object and three lines: the first job's seconds to its first training step (when it began, and
when it ended) and its peak memory, the second job's, and the machine's load average (the
figures are wall seconds: a busy machine stretches them; CPU seconds are beside them).
Overrides go to both jobs (model=...).
`--build-only` writes the files and prints the overrides that point a run at them.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rm_lab.cli import config_errors, no_stray_flags
from rm_lab.core.checks import check_values
from rm_lab.core.config import compose
from rm_lab.studies.paper_data import JOB, bench_data, build, overrides_for, summary_lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.cli.bench_data", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=".cache/rm_lab/paper_data", help="where the files are built (kept)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the paper's sizes (default 1)")
    parser.add_argument("--work-dir", help="where the jobs run, kept (default: a new temporary folder, removed once measured)")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--build-only", action="store_true", help="write the files, print the overrides")
    args, overrides = parser.parse_known_args(argv)
    no_stray_flags(parser, overrides)
    if not args.scale > 0:
        parser.error(f"argument --scale: must be > 0 (a share of the paper's sizes), got {args.scale:g}")
    logging.basicConfig(level=logging.WARNING)
    with config_errors(parser.prog):  # the jobs' config, said before 140,000 pairs are written
        check_values(compose(["dataset=five_domains_paper", "seed=0", *overrides, *JOB]))  # the first job's order
    try:
        if args.build_only:
            files = build(args.data, args.scale)
            print(" ".join(overrides_for(files)))
            return files
        result = bench_data(args.data, args.scale, overrides, args.work_dir)
    except OSError as err:  # --data or --work-dir not writable, a full disk
        print(f"{parser.prog}: cannot write {err.filename or args.data}: {err.strerror or err} "
              "(--data and --work-dir name writable folders)", file=sys.stderr)
        raise SystemExit(2) from None
    except RuntimeError as err:  # a job failed: its log is named
        print(f"{parser.prog}: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    text = json.dumps(result, indent=1)
    print(text)
    for line in summary_lines(result):
        print(line)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
