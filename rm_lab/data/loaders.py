"""Seeded data loaders, and a datamodule over part of a split (one domain's pairs, say).

The shuffling generator is seeded from torch's initial seed, which `seed_everything(seed)`
sets, so a run's batch order follows its seed and nothing else. Evaluation loaders in a
multi-process run give each process its share of the pairs without the padding repeats of
a plain DistributedSampler, so every test pair is scored exactly once.
"""
from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset


class ResumableLoader(DataLoader):
    """A DataLoader that can stop mid-epoch and go on: its `state_dict()` (saved in Lightning
    checkpoints) holds the shuffling generator's state at the start of the epoch and the batches
    handed out since; after `load_state_dict()` the next epoch replays that order and skips them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._epoch_state: torch.Tensor | None = None
        self._served = 0
        self._skip = 0

    def __iter__(self):
        if self.generator is not None:
            self._epoch_state = self.generator.get_state().clone()
        skip, self._skip = self._skip, 0
        self._served = 0
        for batch in super().__iter__():
            self._served += 1
            if self._served > skip:
                yield batch

    def state_dict(self) -> dict:
        if self._served >= len(self) or self._epoch_state is None:  # the epoch is over: the next starts afresh
            state = self.generator.get_state() if self.generator is not None else None
            return {"generator": state, "served": 0}
        return {"generator": self._epoch_state, "served": self._served}

    def load_state_dict(self, state: dict) -> None:
        if state.get("generator") is not None and self.generator is not None:
            self.generator.set_state(state["generator"])
        self._skip = int(state.get("served", 0))


def seeded_loader(data: Dataset, batch_size: int, shuffle: bool, collate_fn: Callable,
                  num_workers: int = 0, seed: int | None = None) -> DataLoader:
    """A DataLoader whose order depends only on the run's seed (or `seed` when given), and that a
    resumed fit continues mid-epoch (`ResumableLoader`)."""
    seed = torch.initial_seed() % 2**63 if seed is None else seed
    generator = torch.Generator().manual_seed(seed)
    return ResumableLoader(data, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_fn,
                           num_workers=num_workers, generator=generator)


def eval_loader(data: Dataset, batch_size: int, collate_fn: Callable, num_workers: int = 0) -> DataLoader:
    """In order; in a multi-process run, this process's share of the rows, none repeated."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler

        sampler = UnrepeatedDistributedSampler(data, shuffle=False)
        return DataLoader(data, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                          num_workers=num_workers)
    return seeded_loader(data, batch_size, False, collate_fn, num_workers)


class DomainSubset(pl.LightningDataModule):
    """The training and validation pairs of some domains, batched like the parent datamodule
    (a component of a composite method fits and is selected on its own domains only)."""

    def __init__(self, train: Dataset, validation: Dataset, batch_size: int, eval_batch_size: int,
                 collate_fn: Callable, num_workers: int = 0):
        super().__init__()
        self.train, self.validation = train, validation
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.collate_fn, self.num_workers = collate_fn, num_workers

    def __len__(self) -> int:
        return len(self.train)

    def train_dataloader(self) -> DataLoader:
        return seeded_loader(self.train, self.batch_size, True, self.collate_fn, self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return eval_loader(self.validation, self.eval_batch_size, self.collate_fn, self.num_workers)
