"""`python -m rm_lab.embedding_study.speed`: Embedding throughput against a bare forward pass of the same model on the same batches."""
from __future__ import annotations

import argparse
import json

from omegaconf import OmegaConf

from rm_lab.cli import config_errors, no_stray_flags
from rm_lab.core.config import compose


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.embedding_study.speed", description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args, overrides = parser.parse_known_args(argv)
    no_stray_flags(parser, overrides)
    with config_errors(parser.prog):  # said before torch loads
        cfg = compose(overrides)
    import torch

    from rm_lab.studies.embedding.speed import measure

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg.paths.output_dir = "unused"
    OmegaConf.resolve(cfg)
    result = measure(cfg, args.sequences, args.batch_size, args.repeats)
    print(json.dumps(result, indent=2))
    print(f"{result['model']}: embed {result['embed']['seq_per_s']:.1f} seq/s, bare forward "
          f"{result['bare_forward']['seq_per_s']:.1f} seq/s, overhead {result['overhead_pct']:+.1f}% "
          f"({result['sequences']} sequences, {result['tokens']} tokens, batch {result['batch_size']})")
    return result


if __name__ == "__main__":
    main()
