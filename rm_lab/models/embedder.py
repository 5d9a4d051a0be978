"""A frozen backbone as an embedding function: token ids -> one pooled vector per sequence.

Batched by length (little padding), without gradients, with a progress bar. Random-weight
backbones (`pretrained: false`) are built under a fixed `init_seed`, so every run and seed
gets the same embedding function and the cache stays valid.

    embedder = Embedder(backbone)                    # backbone: rm_lab.models.backbone.Backbone
    vectors = embedder.embed([[101, 2023, 102], ...])
    splits, stats = embed_splits(embedder, datamodule.tokenized, cache)
"""
from __future__ import annotations

import hashlib
import json
import logging
import time

import torch
from tqdm.auto import tqdm

from rm_lab.data.embedding_cache import EmbeddingCache, sequence_key
from rm_lab.models.backbone import Backbone, RewardEncoder

log = logging.getLogger(__name__)


class Embedder:
    def __init__(self, backbone: Backbone, batch_size: int = 32, init_seed: int = 0, progress: bool = True):
        if batch_size < 1:
            raise ValueError(f"embedding batch size must be >= 1, got {batch_size}")
        self.backbone = backbone
        self.batch_size = batch_size
        self.init_seed = init_seed
        self.progress = progress
        self._encoder: RewardEncoder | None = None

    @property
    def key(self) -> str:
        """Names the embedding function: model name + a hash of what defines its weights."""
        b = self.backbone
        spec = {"source": b.source, "pretrained": b.pretrained, "model_type": b.model_type,
                "architecture": b.architecture, "tokenizer": b.tokenizer_source,
                "init_seed": None if b.pretrained else self.init_seed}
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]
        return f"{b.name}-{digest}"

    @property
    def encoder(self) -> RewardEncoder:
        if self._encoder is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.init_seed)
                encoder = RewardEncoder(self.backbone)
            encoder.eval()
            encoder.requires_grad_(False)
            self._encoder = encoder
        return self._encoder

    @property
    def pad_id(self) -> int:
        return self.backbone.tokenizer().pad_token_id

    def batches(self, sequences: list[list[int]], types: list[list[int]] | None = None):
        """(positions, input_ids, attention_mask, token_type_ids or None), longest first."""
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        for start in range(0, len(order), self.batch_size):
            pos = order[start:start + self.batch_size]
            length = max(len(sequences[i]) for i in pos)
            ids = torch.full((len(pos), length), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(pos), length), dtype=torch.long)
            tt = torch.zeros((len(pos), length), dtype=torch.long) if types is not None else None
            for row, i in enumerate(pos):
                n = len(sequences[i])
                ids[row, :n] = torch.tensor(sequences[i], dtype=torch.long)
                mask[row, :n] = 1
                if tt is not None:
                    tt[row, :n] = torch.tensor(types[i], dtype=torch.long)
            yield pos, ids, mask, tt

    @torch.inference_mode()
    def embed(self, sequences: list[list[int]], types: list[list[int]] | None = None) -> torch.Tensor:
        """One float32 vector per sequence, in input order."""
        encoder = self.encoder
        out = torch.empty(len(sequences), self.backbone.hidden_size, dtype=torch.float32)
        bar = tqdm(total=len(sequences), desc=f"embedding with {self.backbone.name}", unit="seq",
                   disable=not self.progress or not sequences)
        for pos, ids, mask, tt in self.batches(sequences, types):
            out[torch.tensor(pos)] = encoder(ids, mask, tt).float()
            bar.update(len(pos))
        bar.close()
        return out

    @torch.inference_mode()
    def forward_only(self, sequences: list[list[int]], types: list[list[int]] | None = None) -> int:
        """The bare model forward on the same batches as embed() (no pooling, no gathering):
        the reference for embedding throughput. Returns the sequences processed."""
        model = self.encoder.model
        uses_types = getattr(model.config, "type_vocab_size", 0) > 1
        done = 0
        for pos, ids, mask, tt in self.batches(sequences, types):
            kwargs = {"input_ids": ids, "attention_mask": mask}
            if tt is not None and uses_types:
                kwargs["token_type_ids"] = tt
            model(**kwargs)
            done += len(pos)
        return done


def split_sequences(table) -> tuple[list[list[int]], list[list[int]] | None]:
    """A tokenized pair split -> its chosen sequences then its rejected ones (and token types)."""
    seqs = list(table["chosen_input_ids"]) + list(table["rejected_input_ids"])
    if "chosen_token_type_ids" in table.column_names:
        return seqs, list(table["chosen_token_type_ids"]) + list(table["rejected_token_type_ids"])
    return seqs, None


def embed_splits(embedder: Embedder, tokenized: dict, cache: EmbeddingCache) -> tuple[dict, dict]:
    """Embed every distinct sequence of every split that the cache lacks; return
    {split: (chosen (N, H), rejected (N, H))} and counts (computed, reused, seconds)."""
    per_split = {}
    todo: dict[str, tuple[list[int], list[int] | None]] = {}
    for split, table in tokenized.items():
        seqs, types = split_sequences(table)
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
        cache.add(list(todo), embedder.embed(seqs, types))
        cache.save()
    seconds = time.perf_counter() - start
    log.info("embeddings: %d computed, %d reused from %s", len(todo), distinct - len(todo), cache.path)
    out = {}
    for split, keys in per_split.items():
        vectors = cache.get(keys) if keys else torch.empty(0, embedder.backbone.hidden_size)
        half = len(keys) // 2
        out[split] = (vectors[:half], vectors[half:])
    stats = {"computed": len(todo), "reused": distinct - len(todo), "distinct": distinct,
             "seconds": seconds, "per_s": len(todo) / seconds if todo and seconds > 0 else None,
             "cache_file": str(cache.path) if cache.path else None}
    return out, stats
