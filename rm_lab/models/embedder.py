"""A frozen backbone as an embedding function: token ids -> one pooled vector per sequence.

Batched by length (little padding), without gradients, with a progress bar. Random-weight
backbones (`pretrained: false`) are built under a fixed `init_seed`, so every run and seed
gets the same embedding function and the cache stays valid.

    embedder = Embedder(backbone)                    # backbone: rm_lab.models.backbone.Backbone
    vectors = embedder.embed([[101, 2023, 102], ...])

`rm_lab.data.vectorize.vectorize(datamodule, embedder.embed, cache, ...)` turns a tokenized
datamodule into cached vectors with it (the data build step of embedding-based methods).
"""
from __future__ import annotations

import hashlib
import json

import torch
from tqdm.auto import tqdm

from rm_lab.data.batch import pad
from rm_lab.models.backbone import Backbone, RewardEncoder


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
    def built(self) -> bool:
        """Whether the frozen model was built (it is only when something had to be embedded)."""
        return self._encoder is not None

    @property
    def pad_id(self) -> int:
        return self.backbone.tokenizer().pad_token_id

    def batches(self, sequences: list[list[int]], types: list[list[int]] | None = None):
        """(positions, input_ids, attention_mask, token_type_ids or None), longest first."""
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        for start in range(0, len(order), self.batch_size):
            pos = order[start:start + self.batch_size]
            ids, mask = pad([sequences[i] for i in pos], self.pad_id)
            tt = pad([types[i] for i in pos], 0)[0] if types is not None else None
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
