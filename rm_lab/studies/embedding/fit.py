"""Train a head ensemble (`EmbeddingRM`) on annotated pairs with Lightning; score arrays."""
from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch

from rm_lab.data.vector_pairs import VectorPairs, VectorPairsDataModule
from rm_lab.methods.embedding import EmbeddingRM
from rm_lab.studies.embedding.annotate import Annotations

TRAINER = {"accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
           "enable_progress_bar": False, "enable_model_summary": False, "deterministic": True}


def fit_heads(embeddings: np.ndarray, labels: Annotations, heads: dict, seed: int,
              trainer: dict | None = None) -> EmbeddingRM:
    """embeddings (prompts, responses, dim) + labelled pairs -> a trained EmbeddingRM."""
    chosen, rejected = labels.winners_losers(embeddings)
    data = VectorPairs(torch.from_numpy(np.ascontiguousarray(chosen)),
                       torch.from_numpy(np.ascontiguousarray(rejected)), torch.zeros(len(labels), dtype=torch.long))
    pl.seed_everything(seed, workers=True, verbose=False)
    rm = EmbeddingRM(["golden"], input_dim=embeddings.shape[-1], seed=seed, **heads)
    dm = VectorPairsDataModule({"train": data}, ["golden"], rm.batch_size)
    rm.prepare(dm)
    def make_trainer(monitor=None, component=None, **kw):  # no validation split here: nothing to select
        return pl.Trainer(**{**TRAINER, **(trainer or {}), **kw})

    rm.run_training(make_trainer, dm)
    return rm


@torch.no_grad()
def predict(rm: EmbeddingRM, embeddings: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(prompts, responses, dim) -> every head's rewards (K, prompts, responses); reads the
    (possibly memory-mapped) array `chunk` rows at a time."""
    rm.eval()
    flat = embeddings.reshape(-1, embeddings.shape[-1])
    out = [rm.heads(torch.from_numpy(np.array(flat[i:i + chunk], dtype=np.float32)))
           for i in range(0, len(flat), chunk)]
    return torch.cat(out, dim=1).reshape(rm.heads.k, *embeddings.shape[:2]).numpy()
