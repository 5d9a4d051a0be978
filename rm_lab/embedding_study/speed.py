"""Embedding throughput against a bare forward pass of the same model on the same batches.

    python -m rm_lab.embedding_study.speed                         # packaged MiniLM, bundled samples
    python -m rm_lab.embedding_study.speed model=smollm2-135m --sequences 256
    python -m rm_lab.embedding_study.speed --batch-size 64 --repeats 5 --threads 1 dataset.max_pairs.train=100

`bare` runs only model(**inputs) over the batches `Embedder.embed` builds (sorted by length,
padded); `embed` is the whole embedding call (padding, forward, pooling, gathering). The gap is
the embedding code's overhead. Each is timed `--repeats` times, alternating; the best counts.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from omegaconf import OmegaConf

from rm_lab.build import build_data
from rm_lab.config import compose
from rm_lab.models.embedder import Embedder


def measure(cfg, sequences: int, batch_size: int, repeats: int) -> dict:
    datamodule, backbone = build_data(cfg)
    seqs, types = datamodule.sequences("train")
    seqs, types = seqs[:sequences], (types[:sequences] if types else None)
    embedder = Embedder(backbone, batch_size=batch_size, progress=False)
    embedder.embed(seqs[:batch_size], types[:batch_size] if types else None)  # build and warm up
    bare, ours = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        embedder.forward_only(seqs, types)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        embedder.embed(seqs, types)
        ours.append(time.perf_counter() - start)
    tokens = sum(len(s) for s in seqs)
    b, o = min(bare), min(ours)
    return {"model": backbone.name, "pooling": backbone.pooling, "max_length": backbone.max_length,
            "sequences": len(seqs), "tokens": tokens, "batch_size": batch_size, "repeats": repeats,
            "threads": torch.get_num_threads(),
            "bare_forward": {"best_s": b, "seq_per_s": len(seqs) / b, "tokens_per_s": tokens / b, "all_s": bare},
            "embed": {"best_s": o, "seq_per_s": len(seqs) / o, "tokens_per_s": tokens / o, "all_s": ours},
            "overhead_pct": 100.0 * (o - b) / b}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args, overrides = parser.parse_known_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = compose(overrides)
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
