"""`python -m rm_lab.add_domain`: Add a domain to a trained RODOS or ARLISS run without retraining its other components."""
from __future__ import annotations

import argparse
import sys

from rm_lab.cli import config_errors
from rm_lab.runner.add_domain import build_config


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.add_domain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="directory of a completed rodos/arliss run")
    parser.add_argument("domain", help="the domain to add (a key of dataset.domains)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides (the new domain's data)")
    parser.add_argument("--out", help="output directory (default: RUN_DIR+<domain>, beside the run)")
    args = parser.parse_args(argv)
    # a wrong override; not an extendable run, a refused stored config, a wrong domain (OSError, ValueError)
    with config_errors(parser.prog, OSError, ValueError):
        cfg = build_config(args.run_dir, args.domain, args.overrides, args.out)
    from rm_lab.core.errors import ClearError
    from rm_lab.runner.run import run  # the runner (torch, Lightning), imported once the config is good

    try:
        return run(cfg)
    except ClearError as err:  # no pairs for the new domain, a busy folder, a full disk: one line
        print(f"{parser.prog}: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
