"""`python -m rm_lab.gpu_check`: Baseline and RODOS with the paper's recipe for a fixed number of steps, one JSON line per figure (`make gpu-check`)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from rm_lab.cli import config_errors, count
from rm_lab.studies.gpu_check import METHODS, check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deberta-v3-base", help="conf/model choice (default: %(default)s)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: %(default)s)")
    parser.add_argument("--steps", type=count, default=20, help="optimizer steps per fit (default: %(default)s)")
    parser.add_argument("--batch", type=count, default=32, help="pairs per step (the paper: 32)")
    parser.add_argument("--max-length", type=count, default=512, help="tokens per text (the paper: 512)")
    parser.add_argument("--pretrained", action="store_true", help="load the backbone's weights (hub or cache)")
    parser.add_argument("--trl-python", default=os.environ.get("TRL_PYTHON"),
                        help="TRL's own interpreter (default: $TRL_PYTHON); TRL on the same pairs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        with config_errors(parser.prog):
            check(args.model, [m for m in args.methods.split(",") if m], args.steps, args.batch, args.max_length,
                  args.pretrained, args.trl_python)
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
