"""What every domain shares: where rows come from, splitting, dropping malformed rows."""
from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rm_lab.data.pairs import DropLog, MalformedRow, Pair, split_of
from rm_lab.data.sources import list_files, read_file, read_hub

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def local_paths(domain) -> list:
    """The local files or folders a domain reads: its `path` (one or a list), then its per-split
    `files` in split-name order (empty for the hub)."""
    path = domain.path
    paths = [] if not path else [path] if isinstance(path, (str, Path)) else list(path)
    for _, value in sorted((getattr(domain, "files", None) or {}).items()):
        paths += [value] if isinstance(value, (str, Path)) else list(value)
    return paths


@dataclass
class DomainSplits:
    """A domain's pairs per split, the rows dropped per split and why, and where they came from."""

    domain: str
    pairs: dict[str, list[Pair]] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    source: str = ""
    absent: str | None = None


class Domain:
    """A preference domain: a converter from its hub schema to pairs, plus where to read it.

    Sources, first one set wins:
      path:  PATH or [PATH, ...]        local rows (files or folders), split by group:
                                        `test_fraction` to test, `validation_fraction` to
                                        validation, the rest to train
      hub:   {id, name, data_dir, revision, splits: {train: NAME, validation: NAME, test: NAME}}
             a split missing from `splits` is cut from train by group
      files: {train: PATH, validation: PATH, test: PATH}   local rows already split, one source per
                                        split (e.g. a benchmark's fixed test file); a split missing
                                        is cut from train by group, as for the hub
    Local and cut splits keep each pair's group (its prompt, or what the domain groups by)
    on one side, so no test or validation prompt is seen in training.
    With neither the domain is absent (`absent_reason` says why).
    """

    name = "domain"

    def __init__(self, name: str | None = None, hub: dict | None = None, path=None,
                 files: dict | None = None, test_fraction: float = 0.1, validation_fraction: float = 0.1,
                 seed: int = 0, absent_reason: str | None = None, **options):
        if name:
            self.name = name
        self.hub = dict(hub) if hub else None
        self.path = path
        self.files = {str(k): v for k, v in dict(files).items()} if files else None
        if self.files and path:
            raise ValueError(f"{self.name}: give either path (rows split by group) or files (rows already split "
                             f"per split), not both")
        unknown = sorted(set(self.files or ()) - set(SPLITS))
        if unknown or (self.files and "train" not in self.files):
            raise ValueError(f"{self.name}: files maps splits to local files: {{train: F, test: F}} "
                             f"(validation optional); got {sorted(self.files)}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"{self.name}: test_fraction must be in (0, 1), got {test_fraction}")
        self.test_fraction = test_fraction
        if not 0.0 <= validation_fraction < 1.0 - test_fraction:
            raise ValueError(f"{self.name}: validation_fraction must be in [0, 1 - test_fraction), "
                             f"got {validation_fraction}")
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.absent_reason = absent_reason
        if options:
            raise TypeError(f"{self.name}: unknown options {sorted(options)}")

    def expand(self) -> list[Domain]:
        """The domains this one stands for: itself, or (for a benchmark configured once) one
        domain per subset, so per-domain accuracy is per-subset accuracy."""
        return [self]

    def per_subset(self, subsets, name_of=lambda subset: subset) -> list[Domain]:
        """One copy of this domain per subset (`subset` set, named `name_of(subset)`): what a
        benchmark configured once expands to."""
        parts = []
        for subset in subsets:
            part = copy.copy(self)
            part.subset, part.name = subset, name_of(subset)
            parts.append(part)
        return parts

    # -- conversion (domains override one of these) ---------------------------------------
    def convert_row(self, row: dict, index: int) -> list[Pair]:
        raise NotImplementedError

    def convert(self, rows: Iterable[dict], drops: DropLog) -> Iterator[Pair]:
        for index, row in enumerate(rows):
            try:
                yield from self.convert_row(row, index)
            except MalformedRow as bad:
                drops.drop(bad.reason, f"row {index}")

    # -- loading ---------------------------------------------------------------------------
    def _pairs(self, rows: Iterable[dict], drops: DropLog, source: str = "",
               seen: set[str] | None = None) -> list[Pair]:
        """Converted pairs tagged with their source; a pair already `seen` is a duplicate."""
        seen = set() if seen is None else seen
        out = []
        for pair in self.convert(rows, drops):
            if pair.id in seen:
                drops.drop("duplicate_pair", pair.id)
                continue
            seen.add(pair.id)
            out.append(pair.with_source(source) if source else pair)
        return out

    def _local_pairs(self, paths, drops: DropLog) -> list[Pair]:
        """Every file under the given paths, each pair tagged with its file's name."""
        seen: set[str] = set()
        return [pair for path in paths for file in list_files(path)
                for pair in self._pairs(read_file(file, drops), drops, file.name, seen)]

    def _hash_split(self, pairs: list[Pair], result: DomainSplits, which: tuple[str, ...]) -> None:
        """Fill the splits `which` from `pairs`, cut by group (see `split_of`)."""
        routed: dict[str, list[Pair]] = {split: [] for split in which}
        for pair in pairs:
            routed[self.split_of(pair, which)].append(pair)
        result.pairs.update(routed)

    def read_pairs(self, path=None) -> tuple[list[Pair], dict[str, int]]:
        """Every pair of local files in this domain's hub schema (`path`, else the domain's own
        `path`: a file, a folder or a list of them), in file order and not split: what a trained
        model scores (`python -m rm_lab.score`). Returns the pairs and the rows dropped, by
        reason (returned, not logged)."""
        path = self.path if path is None else path
        if not path:
            raise ValueError(f"{self.name}: no local file to read; give a path")
        paths = list(path) if isinstance(path, (list, tuple)) else [path]
        drops = DropLog(self.name, "all")
        return self._local_pairs(paths, drops), drops.to_dict()

    def split_of(self, pair: Pair, which: tuple[str, ...]) -> str:
        return split_of(pair.split_key, which, self.test_fraction, self.validation_fraction)

    def load(self) -> DomainSplits:
        result = DomainSplits(self.name)
        if self.path:
            paths = [self.path] if isinstance(self.path, str) else list(self.path)
            result.source = "local " + ", ".join(map(str, paths))
            drops = DropLog(self.name, "all")
            self._hash_split(self._local_pairs(paths, drops), result, SPLITS)
            drops.report()
            result.dropped = {"all": drops.to_dict()}
        elif self.files:
            result.source = "local " + ", ".join(f"{k}: {v}" for k, v in self.files.items())
            for split in (s for s in SPLITS if s in self.files):
                drops = DropLog(self.name, split)
                value = self.files[split]
                pairs = self._local_pairs([value] if isinstance(value, str) else list(value), drops)
                if split == "train":  # the splits not given are cut from train by group
                    self._hash_split(pairs, result, ("train", *(s for s in SPLITS[1:] if s not in self.files)))
                else:
                    result.pairs[split] = pairs
                result.dropped[split] = drops.to_dict()
                drops.report()
        elif self.hub:
            splits = dict(self.hub.get("splits") or {"train": "train", "test": "test"})
            result.source = f"hub {self.hub['id']}"
            for split in SPLITS:
                if split not in splits:
                    continue
                drops = DropLog(self.name, split)
                result.pairs.setdefault(split, [])
                rows = read_hub(self.hub["id"], splits[split], name=self.hub.get("name"),
                                data_dir=self.hub.get("data_dir"), revision=self.hub.get("revision"),
                                instead=f"dataset=five_domains_sample, or dataset.domains.{self.name}.path=FILE")
                source = "/".join(str(x) for x in (self.hub["id"], self.hub.get("name"), self.hub.get("data_dir"),
                                                       splits[split]) if x)
                pairs = self._pairs(rows, drops, source)
                if split == "train":  # the splits the hub lacks are cut from its train split
                    self._hash_split(pairs, result, ("train", *(s for s in SPLITS[1:] if s not in splits)))
                else:
                    result.pairs[split] = pairs
                result.dropped[split] = drops.to_dict()
                drops.report()
        else:
            result.absent = self.absent_reason or "no source configured (set hub, or path for local files)"
        for split in SPLITS:
            result.pairs.setdefault(split, [])
        return result
