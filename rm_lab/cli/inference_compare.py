"""`python -m rm_lab.inference_compare`: Inference time per input of ARLISS against RODOS on the same backbone, in one process."""
from __future__ import annotations

import argparse
import logging
import warnings

import torch

from rm_lab.studies.inference_compare import compare, markdown


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="config overrides (model=..., dataset.max_pairs.test=...)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--routing", choices=["router", "gold"], help="default: router with stored runs, else gold")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the test batches")
    parser.add_argument("--max-batches", type=int)
    parser.add_argument("--rodos", help="a trained rodos run directory (its components are loaded)")
    parser.add_argument("--arliss", help="a trained arliss run directory (its components are loaded)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-merge", action="store_true", help="ARLISS runs peft's unmerged LoRA layers")
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore", FutureWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = compare(args.overrides, args.device, args.routing, args.repeats, args.max_batches,
                     {"rodos": args.rodos, "arliss": args.arliss}, merge=not args.no_merge)
    print(markdown(result), flush=True)
    if args.out:
        from rm_lab.core.io import write_json_atomic

        write_json_atomic(args.out, result)
    return result


if __name__ == "__main__":
    main()
