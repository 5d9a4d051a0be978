"""`python -m rm_lab.inference_compare`: Inference time per input of ARLISS against RODOS on the same backbone, in one process."""
from __future__ import annotations

import argparse
import logging
import sys
import warnings

import torch

from rm_lab.cli import config_errors
from rm_lab.studies.inference_compare import compare, compared, markdown


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.inference_compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="config overrides (model=..., dataset.max_pairs.test=...)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--routing", choices=["router", "gold"], help="default: router with stored runs, else gold")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the test batches")
    parser.add_argument("--max-batches", type=int)
    names = compared([a for a in (argv if argv is not None else sys.argv[1:]) if "=" in a])
    for name in names:  # --rodos, --arliss: the methods that declare an inference comparison
        parser.add_argument(f"--{name}", dest=f"stored_{name}", metavar="RUN_DIR",
                            help=f"a trained {name} run directory (its components are loaded)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-merge", action="store_true", help="ARLISS runs peft's unmerged LoRA layers")
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore", FutureWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    with config_errors(parser.prog):
        result = compare(args.overrides, args.device, args.routing, args.repeats, args.max_batches,
                         {n: getattr(args, f"stored_{n}") for n in names}, merge=not args.no_merge)
    print(markdown(result), flush=True)
    if args.out:
        from rm_lab.core.io import write_json_atomic

        write_json_atomic(args.out, result)
    return result


if __name__ == "__main__":
    main()
