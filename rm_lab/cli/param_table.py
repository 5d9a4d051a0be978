"""`python -m rm_lab.param_table`: Parameter counts of the router paper's methods, built from config without any weights."""
from __future__ import annotations

import argparse
import logging
import warnings

from rm_lab.studies.param_table import markdown, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", help="conf/method choices (default: the paper's rows)")
    parser.add_argument("--models", nargs="+", help="conf/model choices (default: deberta-v3-base)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore", FutureWarning)
    print(markdown(rows(args.methods, args.models)))


if __name__ == "__main__":
    main()
