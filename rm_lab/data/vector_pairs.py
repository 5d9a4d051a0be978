"""Preference pairs as fixed vectors: the datamodule that embedding-based heads train on.

Batches mirror PreferenceDataModule's: `embeddings` holds the chosen vectors then the
rejected vectors (2 x batch rows), `domain` the gold domain index of each pair, `index` the
pair's row in its split (for per-head bootstrap weights) and `ids` the pair ids.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset


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

    def collate(self, rows: list[int]) -> dict:
        idx = torch.tensor(rows, dtype=torch.long)
        return {"embeddings": torch.cat([self.chosen[idx], self.rejected[idx]]),
                "domain": self.domain[idx], "index": idx, "ids": [self.ids[i] for i in rows]}


class VectorPairsDataModule(pl.LightningDataModule):
    """Splits of VectorPairs; `tokenized` keeps PreferenceDataModule's name for the runner."""

    def __init__(self, splits: dict[str, VectorPairs], domain_names: list[str], batch_size: int = 256,
                 eval_batch_size: int = 1024, name: str = "vectors"):
        super().__init__()
        self.tokenized = dict(splits)
        self.domain_names = list(domain_names)
        self.batch_size, self.eval_batch_size, self.name = batch_size, eval_batch_size, name

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        data = self.tokenized[split]
        generator = torch.Generator().manual_seed(torch.initial_seed() % 2**63)
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, collate_fn=data.collate,
                          generator=generator)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
