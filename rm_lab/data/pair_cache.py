"""The pairs a dataset's local files give, cached on disk and keyed by those files' content.

Reading and converting 140,000 pairs from JSON lines takes seconds of Python per file; the second
job of a sweep reads the same files with the same settings. `PairCache` stores what
`PreferenceDataModule.load_pairs` produced (each split's capped pairs as an Arrow file, and each
domain's source, absent reason, dropped rows and available pairs per split as JSON) under

    <cache_dir>/pairs-<key>/{meta.json, train.arrow, validation.arrow, test.arrow}

where the key hashes the content of every local file read (sha1), the domains' settings (class and
options), the caps, the data seed and `PAIR_FORMAT`. A changed file, option or cap is a new key; a
dataset that reads the hub is not cached here (the hub's own cache keeps its files). Arrow files
are memory-mapped when read back; nothing in the cache is code (no pickle).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path

from rm_lab.data.domains.base import local_paths
from rm_lab.data.pairs import PAIR_FIELDS, Pair
from rm_lab.data.sources import list_files

PAIR_FORMAT = "1"  # bump when what load_pairs produces changes, so old caches are not reused
SPLITS = ("train", "validation", "test")


def _file_digest(path: Path) -> str:
    stat = path.stat()
    return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha1, once per process for each version of the file (a job keys its pair cache
    before it imports its libraries, rm_lab/data/read_ahead.py, and again when it loads its pairs)."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _settings(domain) -> dict:
    """A domain's options (what its converter and splits depend on), JSON-ready."""
    return {k: v for k, v in sorted(vars(domain).items()) if not k.startswith("_") and k != "path"}


def cache_key(name: str, domains: dict, max_pairs: dict, data_seed: int) -> str | None:
    """The key of a dataset whose every domain reads local files (or is absent); None when one
    reads the hub."""
    key = hashlib.sha1()
    parts = [PAIR_FORMAT, name, json.dumps(max_pairs, sort_keys=True, default=str), str(data_seed)]
    for dname, domain in domains.items():
        files = getattr(domain, "files", None) or {}
        if not domain.path and not files and domain.hub:
            return None
        parts.append(f"{dname}:{type(domain).__module__}.{type(domain).__qualname__}:"
                     f"{json.dumps(_settings(domain), sort_keys=True, default=str)}")
        parts += [f"files:{split}" for split in sorted(files)]  # per-split files: each split's content
        for path in local_paths(domain):
            for file in list_files(path):
                parts.append(f"{file.name}:{_file_digest(file)}")
    for part in parts:
        key.update(part.encode() + b"\0")
    return key.hexdigest()[:20]


def _columns(pairs: list[Pair]) -> dict[str, list]:
    columns: dict[str, list] = {f: [] for f in PAIR_FIELDS}
    for p in pairs:
        for f in PAIR_FIELDS:
            columns[f].append(getattr(p, f))
    return columns


def _pairs(table) -> list[Pair]:
    """The cached pairs as `Pair`s, each filled in place: a frozen dataclass's `__init__` sets its
    nine fields one `object.__setattr__` at a time (1 s of a cached job's start for 180,000 pairs)."""
    data = table.to_dict() if hasattr(table, "to_dict") else table
    attributes = [None if a is None else (tuple(a[0]), tuple(a[1])) for a in data["attributes"]]
    names = [f for f in PAIR_FIELDS if f != "attributes"]
    order = (*names, "attributes")
    pairs = []
    new = object.__new__
    for values in zip(*(data[f] for f in names), attributes):
        pair = new(Pair)
        pair.__dict__.update(zip(order, values))
        pairs.append(pair)
    return pairs


class PairCache:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @classmethod
    def of(cls, cache_dir: Path | None, name: str, domains: dict, max_pairs: dict, data_seed: int) -> PairCache | None:
        """The cache of this dataset (None without a cache_dir or for hub data)."""
        if cache_dir is None:
            return None
        key = cache_key(name, domains, max_pairs, data_seed)
        return None if key is None else cls(Path(cache_dir) / f"pairs-{key}")

    def exists(self) -> bool:
        return (self.folder / "meta.json").exists()

    def load(self) -> tuple[dict, dict[str, list[Pair]]]:
        """(meta: {domain: {source, absent, dropped, available}}, {split: pairs})."""
        import datasets

        meta = json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))
        pairs = {}
        for split in SPLITS:
            table = datasets.Dataset.from_file(str(self.folder / f"{split}.arrow"))
            pairs[split] = _pairs(table.to_dict()) if len(table) else []
        return meta, pairs

    def save(self, meta: dict, pairs: dict[str, list[Pair]]) -> None:
        """Written to a temporary folder, then renamed: a reader sees all of it or none."""
        import datasets
        from datasets.arrow_writer import ArrowWriter

        tmp = self.folder.with_name(f".{self.folder.name}.{os.getpid()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            for split in SPLITS:
                rows = pairs.get(split, [])
                table = (datasets.Dataset.from_dict(_columns(rows)) if rows else
                         datasets.Dataset.from_dict({f: [] for f in PAIR_FIELDS}))
                writer = ArrowWriter(path=str(tmp / f"{split}.arrow"))
                writer.write_table(table.data.table)
                writer.finalize()
            (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        except BaseException:  # a full disk, a stopped job: no partial folder left behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            os.replace(tmp, self.folder)
        except OSError:  # another job wrote it first: theirs is the same
            for file in tmp.iterdir():
                file.unlink()
            tmp.rmdir()
