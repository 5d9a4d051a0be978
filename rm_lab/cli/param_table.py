"""`python -m rm_lab.param_table`: Parameter counts of the router paper's methods, built from config without any weights."""
from __future__ import annotations

import argparse
import logging
import sys
import warnings

from rm_lab.cli import config_errors
from rm_lab.studies.param_table import markdown, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.param_table", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", help="conf/method choices (default: the paper's rows)")
    parser.add_argument("--models", nargs="+", help="conf/model choices (default: deberta-v3-base)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, anywhere on the line, e.g. hydra.searchpath=[file:///my/conf] "
                        "(the paper rows of the methods found there too)")
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    args = parser.parse_args([a for a in argv if a not in overrides])
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore", FutureWarning)
    with config_errors(parser.prog):
        table = rows(args.methods, args.models, overrides)
    print(markdown(table))


if __name__ == "__main__":
    main()
