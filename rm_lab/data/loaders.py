"""Seeded data loaders, and a datamodule over part of a split (one domain's pairs, say).

The shuffling generator is seeded from torch's initial seed, which `seed_everything(seed)`
sets, so a run's batch order follows its seed and nothing else. Given each row's length, a
training loader groups rows of similar length into a batch (`LengthGroupedBatches`: shuffled,
then sorted within windows of `window` batches, batches in shuffled order), so batches carry
little padding and stay random; evaluation loaders then go longest first. Evaluation loaders
in a multi-process run give each process its share of the pairs without the padding repeats
of a plain DistributedSampler, so every test pair is scored exactly once. Training loaders in a
multi-process run stay length-grouped (`ShardedGroupedRows`): every process draws the same
grouped batches from the same seed and takes every world-th one.
"""
from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

GROUP_WINDOW = 32  # batches per window of length grouping: larger, less padding and less randomness


class LengthGroupedBatches(Sampler[list[int]]):
    """Batches of row indices with little padding that keep a shuffled order: each epoch the
    rows are shuffled, cut into windows of `window` batches, sorted by length inside a window
    and cut into batches, and the batches are shuffled. A row is a pair (its chosen and rejected
    texts have one length: the longer), so both sides stay together. Every row is served once
    per epoch; the last batch of a window may be short. Draws only from `generator`."""

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator,
                 window: int = GROUP_WINDOW):
        if batch_size < 1 or window < 1:
            raise ValueError(f"batch_size and window must be >= 1, got {batch_size} and {window}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size, self.window, self.generator = batch_size, window, generator

    def batches(self) -> list[list[int]]:
        order = torch.randperm(len(self.lengths), generator=self.generator)
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            rows = order[start:start + span]
            rows = rows[torch.argsort(self.lengths[rows], descending=True, stable=True)]
            batches += [rows[i:i + self.batch_size].tolist() for i in range(0, len(rows), self.batch_size)]
        return [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]

    def __iter__(self):
        yield from self.batches()

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.batch_size * self.window)
        return full * self.window + -(-rest // self.batch_size)


class ShardedGroupedRows(DistributedSampler):
    """Length-grouped training batches in a multi-process run: each process draws the grouped
    batches of `LengthGroupedBatches` from the same seeded generator (so all draw the same ones),
    fills the epoch's short last batch with its first rows, repeats batches from the start until
    every process has as many, and takes every `num_replicas`-th batch from its `rank`. It yields
    those batches' rows one after another; a loader with the same `batch_size` cuts them back into
    the same batches. Like DistributedSampler without drop_last, a few rows are repeated so that
    every process runs the same number of steps. A DistributedSampler, so Lightning keeps it."""

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator,
                 window: int = GROUP_WINDOW, num_replicas: int | None = None, rank: int | None = None):
        super().__init__(list(lengths), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.grouped = LengthGroupedBatches(lengths, batch_size, generator, window)
        self.batch_size = batch_size
        self.steps = -(-len(self.grouped) // self.num_replicas)  # batches per process

    def batches(self) -> list[list[int]]:
        """This process's batches for the next epoch (all full, `self.steps` of them)."""
        batches = self.grouped.batches()
        rows = [row for batch in batches for row in batch]
        for batch in batches:
            if len(batch) < self.batch_size:  # the epoch's one short batch (the end of the last window)
                batch += [rows[i % len(rows)] for i in range(self.batch_size - len(batch))]
        batches += [batches[i % len(batches)] for i in range(self.steps * self.num_replicas - len(batches))]
        return batches[self.rank::self.num_replicas]

    def __iter__(self):
        return (row for batch in self.batches() for row in batch)

    def __len__(self) -> int:
        return self.steps * self.batch_size


class LongestFirst(Sampler[int]):
    """Evaluation order: the longest rows first (the biggest batch runs first, so a batch that
    does not fit fails at once), similar lengths batched together."""

    def __init__(self, lengths: list[int]):
        self.order = sorted(range(len(lengths)), key=lambda i: -lengths[i])

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


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
                  num_workers: int = 0, seed: int | None = None, lengths: list[int] | None = None,
                  window: int = GROUP_WINDOW) -> DataLoader:
    """A DataLoader whose order depends only on the run's seed (or `seed` when given), and that a
    resumed fit continues mid-epoch (`ResumableLoader`). With `lengths` (one per row) and
    `shuffle`, batches are length-grouped (`LengthGroupedBatches`; `ShardedGroupedRows` in a
    multi-process run, where the seed must be the same in every process)."""
    seed = torch.initial_seed() % 2**63 if seed is None else seed
    generator = torch.Generator().manual_seed(seed)
    if shuffle and lengths is not None and distributed():
        rows = ShardedGroupedRows(lengths, batch_size, generator, window)
        return ResumableLoader(data, batch_size=batch_size, sampler=rows, collate_fn=collate_fn,
                               num_workers=num_workers, generator=generator)
    if shuffle and lengths is not None:
        batches = LengthGroupedBatches(lengths, batch_size, generator, window)
        return ResumableLoader(data, batch_sampler=batches, collate_fn=collate_fn, num_workers=num_workers,
                               generator=generator)
    return ResumableLoader(data, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_fn,
                           num_workers=num_workers, generator=generator)


def distributed() -> bool:
    """True in a multi-process run: loaders with rows' lengths shard themselves (training:
    `ShardedGroupedRows`; evaluation: each row once); the others get Lightning's DistributedSampler."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def eval_loader(data: Dataset, batch_size: int, collate_fn: Callable, num_workers: int = 0,
                lengths: list[int] | None = None) -> DataLoader:
    """Every row once: in order, or longest first given `lengths`; in a multi-process run, this
    process's share of the rows (in order), none repeated."""
    if distributed():
        from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler

        sampler = UnrepeatedDistributedSampler(data, shuffle=False)
        return DataLoader(data, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                          num_workers=num_workers)
    if lengths is not None:
        return DataLoader(data, batch_size=batch_size, sampler=LongestFirst(lengths), collate_fn=collate_fn,
                          num_workers=num_workers)
    return seeded_loader(data, batch_size, False, collate_fn, num_workers)


class DomainSubset(pl.LightningDataModule):
    """The training and validation pairs of some domains, batched like the parent datamodule
    (a component of a composite method fits and is selected on its own domains only)."""

    def __init__(self, train: Dataset, validation: Dataset, batch_size: int, eval_batch_size: int,
                 collate_fn: Callable, num_workers: int = 0, lengths: Callable[[Dataset], list[int]] | None = None,
                 window: int = GROUP_WINDOW):
        super().__init__()
        self.train, self.validation = train, validation
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.collate_fn, self.num_workers = collate_fn, num_workers
        self.lengths, self.window = lengths, window  # rows -> their lengths (length grouping), or None

    def __len__(self) -> int:
        return len(self.train)

    def _lengths(self, rows: Dataset) -> list[int] | None:
        return self.lengths(rows) if self.lengths is not None else None

    def train_dataloader(self) -> DataLoader:
        return seeded_loader(self.train, self.batch_size, True, self.collate_fn, self.num_workers,
                             lengths=self._lengths(self.train), window=self.window)

    def val_dataloader(self) -> DataLoader:
        return eval_loader(self.validation, self.eval_batch_size, self.collate_fn, self.num_workers,
                           lengths=self._lengths(self.validation))
