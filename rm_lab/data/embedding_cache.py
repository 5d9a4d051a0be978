"""An on-disk store of embedding vectors, one file per (model, dataset, max length, pooling).

Each vector is keyed by a hash of the exact token ids (and token types) that were embedded,
so a text is embedded once however many pairs, runs or seeds use it:

    cache = EmbeddingCache(root, model_key="minilm-l6@...", dataset="five_domains_sample",
                           max_length=128, pooling="first")
    missing = cache.missing(keys); cache.add(missing, vectors); cache.save(); cache.get(keys)
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from rm_lab.core.io import atomic_path
from rm_lab.core.safe_weights import load_weights

CACHE_FORMAT = "1"  # bump when the stored layout changes


def sequence_key(input_ids: list[int], token_type_ids: list[int] | None = None) -> str:
    """A stable key for one tokenized (prompt, response) sequence."""
    digest = hashlib.sha1(",".join(map(str, input_ids)).encode())
    if token_type_ids is not None and any(token_type_ids):
        digest.update(b"|" + ",".join(map(str, token_type_ids)).encode())
    return digest.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")[:120]


class EmbeddingCache:
    def __init__(self, root: str | Path | None, model_key: str, dataset: str, max_length: int,
                 pooling: str):
        self.path = None if root is None else (
            Path(root) / "embeddings" / _slug(model_key) / f"{_slug(dataset)}-len{max_length}-{pooling}.pt")
        self.meta = {"format": CACHE_FORMAT, "model": model_key, "dataset": dataset,
                     "max_length": int(max_length), "pooling": pooling}
        self.index: dict[str, int] = {}
        self.chunks: list[torch.Tensor] = []
        self._rows = 0
        self._dirty = False
        self.loaded_from_disk = 0
        if self.path is not None and self.path.exists():
            stored = load_weights(self.path)
            if stored.get("meta") == self.meta:
                self.index = {k: i for i, k in enumerate(stored["keys"])}
                self.chunks = [stored["vectors"]]
                self._rows = len(self.index)
                self.loaded_from_disk = self._rows

    def __len__(self) -> int:
        return self._rows

    def missing(self, keys: list[str]) -> list[str]:
        """The distinct keys not in the cache, in first-seen order."""
        return list(dict.fromkeys(k for k in keys if k not in self.index))

    def add(self, keys: list[str], vectors: torch.Tensor) -> None:
        if len(keys) != vectors.shape[0]:
            raise ValueError(f"{len(keys)} keys for {vectors.shape[0]} vectors")
        if not keys:
            return
        for k in keys:
            self.index[k] = self._rows
            self._rows += 1
        self.chunks.append(vectors.detach().to("cpu", torch.float32))
        self._dirty = True

    def vectors(self) -> torch.Tensor:
        if len(self.chunks) > 1:
            self.chunks = [torch.cat(self.chunks)]
        return self.chunks[0] if self.chunks else torch.empty(0, 0)

    def get(self, keys: list[str]) -> torch.Tensor:
        unknown = [k for k in keys if k not in self.index]
        if unknown:
            raise KeyError(f"{len(unknown)} sequences are not embedded yet (first: {unknown[0]})")
        return self.vectors()[torch.tensor([self.index[k] for k in keys], dtype=torch.long)]

    def save(self) -> None:
        """Write atomically (temporary file, then rename); a no-op when nothing was added."""
        if self.path is None or not self._dirty:
            return
        keys = [None] * self._rows
        for k, i in self.index.items():
            keys[i] = k
        with atomic_path(self.path) as tmp:
            torch.save({"meta": self.meta, "keys": keys, "vectors": self.vectors()}, tmp)
        self._dirty = False
