"""Preference pairs as fixed vectors: the datamodule that embedding-based heads train on.

Batches (`rm_lab.data.batch.VectorBatch`) mirror PreferenceDataModule's: `embeddings` holds the
chosen vectors then the rejected vectors (2 x batch rows), `domain` the gold domain index of
each pair, `index` the pair's row in its split (for per-head bootstrap weights) and `ids` the
pair ids. Built from a tokenized datamodule by `rm_lab.data.vectorize.vectorize`.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from rm_lab.data.batch import VectorBatch
from rm_lab.data.loaders import DomainSubset, eval_loader, seeded_loader


class VectorPairs(Dataset):
    def __init__(self, chosen: torch.Tensor, rejected: torch.Tensor, domain: torch.Tensor,
                 ids: list[str] | None = None):
        if chosen.shape != rejected.shape or chosen.shape[0] != domain.shape[0]:
            raise ValueError(f"chosen {tuple(chosen.shape)}, rejected {tuple(rejected.shape)} and "
                             f"domain {tuple(domain.shape)} must describe the same pairs")
        self.chosen, self.rejected, self.domain = chosen.float(), rejected.float(), domain.long()
        self.ids = list(ids) if ids is not None else [str(i) for i in range(len(domain))]

    def __len__(self) -> int:
        return self.chosen.shape[0]

    def __getitem__(self, i: int) -> int:
        return i

    @property
    def dim(self) -> int:
        return int(self.chosen.shape[1]) if self.chosen.dim() == 2 else 0

    def collate(self, rows: list[int]) -> VectorBatch:
        idx = torch.tensor(rows, dtype=torch.long)
        return {"embeddings": torch.cat([self.chosen[idx], self.rejected[idx]]),
                "domain": self.domain[idx], "index": idx, "ids": [self.ids[i] for i in rows]}


class VectorPairsDataModule(pl.LightningDataModule):
    """Splits of VectorPairs, with the `PairData` protocol; `stats` describes how the vectors
    were made (results.json `embedding`)."""

    def __init__(self, splits: dict[str, VectorPairs], domain_names: list[str], batch_size: int = 256,
                 eval_batch_size: int = 1024, name: str = "vectors", stats: dict | None = None,
                 counts: dict | None = None):
        super().__init__()
        self.splits = dict(splits)
        self._domain_names = list(domain_names)
        self.batch_size, self.eval_batch_size, self.name = batch_size, eval_batch_size, name
        self.stats = dict(stats or {})
        self._counts = dict(counts or {})

    @property
    def domain_names(self) -> list[str]:
        return list(self._domain_names)

    @property
    def dim(self) -> int:
        return max((s.dim for s in self.splits.values()), default=0)

    def num_pairs(self, split: str) -> int:
        return len(self.splits[split]) if split in self.splits else 0

    def domains_with_pairs(self, split: str) -> list[str]:
        present = set(self.splits[split].domain.tolist()) if split in self.splits else set()
        return [d for i, d in enumerate(self._domain_names) if i in present]

    def subset(self, domains: list[str]) -> DomainSubset:
        wanted = {self._domain_names.index(d) for d in domains}

        def rows(split: str) -> Subset:
            data = self.splits[split]
            return Subset(data, [i for i, d in enumerate(data.domain.tolist()) if d in wanted])

        return DomainSubset(rows("train"), rows("validation"), self.batch_size, self.eval_batch_size,
                            self.splits["train"].collate)

    def counts(self) -> dict:
        return dict(self._counts)

    def figures(self) -> dict:
        return {"embedding": dict(self.stats)} if self.stats else {}

    def train_dataloader(self) -> DataLoader:
        data = self.splits["train"]
        return seeded_loader(data, self.batch_size, True, data.collate)

    def val_dataloader(self) -> DataLoader:
        data = self.splits.get("validation") or VectorPairs(torch.empty(0, self.dim), torch.empty(0, self.dim),
                                                             torch.empty(0, dtype=torch.long))
        return eval_loader(data, self.eval_batch_size, data.collate)

    def test_dataloader(self) -> DataLoader:
        data = self.splits["test"]
        return eval_loader(data, self.eval_batch_size, data.collate)
