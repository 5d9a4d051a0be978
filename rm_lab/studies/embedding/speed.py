"""Embedding throughput against a bare forward pass of the same model on the same batches.

    python -m rm_lab.embedding_study.speed                         # packaged MiniLM, bundled samples
    python -m rm_lab.embedding_study.speed model=smollm2-135m --sequences 256
    python -m rm_lab.embedding_study.speed --batch-size 64 --repeats 5 --threads 1 dataset.max_pairs.train=100

`bare` runs only model(**inputs) over the batches `Embedder.embed` builds (sorted by length,
padded); `embed` is the whole embedding call (padding, forward, pooling, gathering). The gap is
the embedding code's overhead. Each is timed `--repeats` times, alternating; the best counts.
"""
from __future__ import annotations

import time

import torch

from rm_lab.models.embedder import Embedder
from rm_lab.runner.build import build_data


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
