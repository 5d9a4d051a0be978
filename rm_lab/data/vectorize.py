"""The data build step of embedding-based methods: token sequences -> cached vectors.

Every distinct (prompt, response) token sequence of every split is embedded once by `embed`
(a frozen model's pooled output) and stored in an `EmbeddingCache`; sequences already cached
are reused. The result is a `VectorPairsDataModule` with the same splits and domains:

    vectors = vectorize(datamodule, embedder.embed, cache, batch_size=256, eval_batch_size=1024)
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch

from rm_lab.data.datamodule import PreferenceDataModule
from rm_lab.data.embedding_cache import EmbeddingCache, sequence_key
from rm_lab.data.vector_pairs import VectorPairs, VectorPairsDataModule

log = logging.getLogger(__name__)

Embed = Callable[[list, "list | None"], torch.Tensor]


def vectorize(datamodule: PreferenceDataModule, embed: Embed, cache: EmbeddingCache, dim: int,
              batch_size: int = 256, eval_batch_size: int = 1024, describe: dict | None = None
              ) -> VectorPairsDataModule:
    """Embed what the cache lacks, then build the vector datamodule. `describe` (the model key,
    pooling, ...) is kept with the embedding counts in the datamodule's `stats`."""
    per_split: dict[str, list[str]] = {}
    todo: dict[str, tuple[list[int], list[int] | None]] = {}
    for split in datamodule.tokenized:
        seqs, types = datamodule.sequences(split)
        keys = [sequence_key(s, types[i] if types else None) for i, s in enumerate(seqs)]
        per_split[split] = keys
        for i, k in enumerate(keys):
            if k not in cache.index and k not in todo:
                todo[k] = (seqs[i], types[i] if types else None)
    distinct = len({k for keys in per_split.values() for k in keys})
    start = time.perf_counter()
    if todo:
        seqs = [v[0] for v in todo.values()]
        types = [v[1] for v in todo.values()] if all(v[1] is not None for v in todo.values()) else None
        cache.add(list(todo), embed(seqs, types))
        cache.save()
    seconds = time.perf_counter() - start
    log.info("embeddings: %d computed, %d reused from %s", len(todo), distinct - len(todo), cache.path)
    splits = {}
    for split, keys in per_split.items():
        vectors = cache.get(keys) if keys else torch.empty(0, dim)
        half = len(keys) // 2
        splits[split] = VectorPairs(vectors[:half], vectors[half:], datamodule.pair_domains(split),
                                    datamodule.pair_ids(split))
    stats = {**(describe or {}), "computed": len(todo), "reused": distinct - len(todo), "distinct": distinct,
             "seconds": seconds, "per_s": len(todo) / seconds if todo and seconds > 0 else None,
             "cache_file": str(cache.path) if cache.path else None}
    return VectorPairsDataModule(splits, datamodule.domain_names, batch_size, eval_batch_size,
                                 name=datamodule.name, stats=stats, counts=datamodule.counts())
