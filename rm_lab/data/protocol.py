"""What a method may ask of its data: the `PairData` protocol.

Both `PreferenceDataModule` (token batches) and `VectorPairsDataModule` (cached embeddings)
provide it. Methods, the runner and the tools use only these members, never a datamodule's
internals, so a new kind of data needs only this surface.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import pytorch_lightning as pl
from torch.utils.data import DataLoader


@runtime_checkable
class PairData(Protocol):
    name: str
    batch_size: int
    eval_batch_size: int

    @property
    def domain_names(self) -> list[str]:
        """Every configured domain, in config order (the index used in batches' `domain`)."""

    def num_pairs(self, split: str) -> int:
        """Pairs in a split ("train", "validation" or "test")."""

    def domains_with_pairs(self, split: str) -> list[str]:
        """The configured domains that have pairs in a split, in config order."""

    def subset(self, domains: list[str]) -> pl.LightningDataModule:
        """A datamodule whose train and validation loaders yield only these domains' pairs."""

    def counts(self) -> dict:
        """Pair counts per domain and split, dropped rows and sources (results.json `data`)."""

    def figures(self) -> dict:
        """Extra top-level results of the data build step ({} when there are none)."""

    def train_dataloader(self) -> DataLoader: ...

    def val_dataloader(self) -> DataLoader: ...

    def test_dataloader(self) -> DataLoader: ...
