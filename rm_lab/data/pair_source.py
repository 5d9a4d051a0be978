"""The pair half of a dataset: domains -> pairs read, converted and split, capped, cached.

`PairSource` is what `PreferenceDataModule` (rm_lab/data/datamodule.py) does before tokens: it
reads every domain (a forked worker reads half of a large local dataset, rm_lab/data/domain_reading.py),
samples each split to its cap, counts what it used and dropped, and caches the pairs of local
files keyed by their content (rm_lab/data/pair_cache.py). It imports neither torch nor Lightning,
so a job can read its files while it imports them (rm_lab/data/read_ahead.py).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from rm_lab.core.errors import NoPairsError
from rm_lab.data import read_ahead
from rm_lab.data.domain_reading import read_domains
from rm_lab.data.domains.base import SPLITS, Domain, DomainSplits
from rm_lab.data.pair_cache import PairCache
from rm_lab.data.pairs import Pair, sample_pairs

log = logging.getLogger("rm_lab.data.datamodule")  # its messages keep the name they were said under


def check_caps(max_pairs: dict, domains: list[str]) -> None:
    """Each split's cap is null (no cap), a number >= 1, or a mapping {domain: null or number} naming
    configured domains only; anything else fails here, before any data is read."""
    def bad(value) -> bool:
        return value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1)

    for split, cap in max_pairs.items():
        if isinstance(cap, Mapping):
            unknown = sorted(set(cap) - set(domains))
            if unknown:
                raise ValueError(f"dataset.max_pairs.{split} names unknown domains {unknown}; "
                                 f"configured: {sorted(set(domains))}")
            wrong = {d: v for d, v in cap.items() if bad(v)}
        else:
            wrong = {split: cap} if bad(cap) else {}
        if wrong:
            raise ValueError(f"dataset.max_pairs.{split}: caps must be null (no cap) or integers >= 1, got {wrong}; "
                             f"give one number per split, or a mapping {{domain: number}}")


def expand_domains(domains: dict[str, Domain]) -> dict[str, Domain]:
    """Config keys -> domains, each under its name (the key, unless the domain names itself:
    the preference domain takes its file's stem); a benchmark configured once (RewardBench)
    becomes one domain per subset, named after it."""
    out: dict[str, Domain] = {}
    for key, domain in domains.items():
        parts = domain.expand()
        if len(parts) == 1:
            out[parts[0].name or key] = parts[0]
        else:
            out.update((part.name, part) for part in parts)
    return out


class PairSource:
    """A dataset's domains (config keys -> `Domain`s), its caps per split and where its pairs are
    cached; `load_pairs()` fills `pairs` (split -> pairs), `splits` (domain -> `DomainSplits`) and
    `available` (domain -> split -> pairs before the caps)."""

    def __init__(self, domains: dict[str, Domain], name: str = "dataset", max_pairs: dict | None = None,
                 cache_dir: str | None = ".cache/rm_lab", path=None, data_seed: int = 0,
                 tokenize_processes: int | None = 2):
        if not domains:
            raise ValueError("dataset.domains is empty: configure at least one domain")
        self.name = name
        self.domains = dict(domains)
        caps = dict(max_pairs or {})
        unknown = set(caps) - set(SPLITS)
        if unknown:
            raise ValueError(f"dataset.max_pairs has unknown splits {sorted(unknown)}; valid: {list(SPLITS)}")
        self.max_pairs = caps
        self.data_seed = data_seed  # the caps' sample: fixed, whatever the run's seed
        if path:  # one way to point at a local file: the domain's own `path`
            keys = list(self.domains)
            where = (f"dataset.domains.{keys[0]}.path={path}" if len(keys) == 1 else
                     f"dataset.domains.<domain>.path=FILE for each domain of {keys}")
            raise ValueError(f"dataset.path is not read: give the file to its domain, {where} "
                             "(a file, a folder, or a list of them)")
        self.domains = expand_domains(self.domains)
        check_caps(self.max_pairs, [*domains, *self.domains])
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.tokenize_processes = tokenize_processes
        self.splits: dict[str, DomainSplits] = {}
        self.available: dict[str, dict[str, int]] = {}
        self._counts: dict | None = None
        self.pairs: dict[str, list[Pair]] = {}

    # -- pairs -----------------------------------------------------------------------------
    @property
    def domain_names(self) -> list[str]:
        return list(self.domains)

    def num_pairs(self, split: str) -> int:
        return len(self.pairs.get(split, []))

    def domains_with_pairs(self, split: str) -> list[str]:
        present = {p.domain for p in self.pairs.get(split, [])}
        return [d for d in self.domain_names if d in present]

    def load_pairs(self) -> None:
        """Read and convert every domain; fails fast on an unreachable hub or missing file. Local
        files are read once: the pairs they give are cached, keyed by their content
        (rm_lab/data/pair_cache.py), so the next job with the same files and settings starts at once."""
        if self.pairs:
            return
        cache = self.pair_cache()
        if cache is not None:
            read_ahead.wait(cache)  # a child reading these files while this job imported: its cache, its words
        if cache is not None and cache.exists():
            self._load_cached(cache)
        else:
            self.read_and_cache(cache)
        if not self.pairs["train"] and not self.pairs["test"]:
            raise self.no_pairs()
        counts = self.counts()
        for name in self.domain_names:
            s = self.splits[name]
            if s.absent:
                log.warning("domain %s is absent: %s", name, s.absent)
            else:
                log.info("domain %s: %s", name, counts[name])

    def pair_cache(self) -> PairCache | None:
        """Where these pairs are cached (None: not cached, for hub data or without a cache_dir)."""
        return PairCache.of(self.cache_dir, self.name, self.domains, self.max_pairs, self.data_seed)

    def read_and_cache(self, cache: PairCache | None) -> None:
        """Every domain read, converted, split and capped; the pairs cached where `cache` says."""
        self._read_domains()
        if cache is not None:
            cache.save({d: {"source": s.source, "absent": s.absent, "dropped": s.dropped,
                            "available": self.available[d]} for d, s in self.splits.items()}, self.pairs)

    def _read_domains(self) -> None:
        self.splits.update(read_domains(self.domains, self.tokenize_processes))
        self.available = {d: {split: len(self.splits[d].pairs[split]) for split in SPLITS} for d in self.domain_names}
        for split in SPLITS:
            self.pairs[split] = [p for d in self.domain_names for p in sample_pairs(
                self.splits[d].pairs[split], self.cap(split, d), f"{self.data_seed}:{d}:{split}")]
            for d in self.domain_names:
                have, cap = self.available[d][split], self.cap(split, d)
                if cap and have < cap and not self.splits[d].absent:
                    log.warning("domain %s, %s split: %d pairs available, fewer than its cap of %d; "
                                "using all of them", d, split, have, cap)

    def _load_cached(self, cache: PairCache) -> None:
        meta, self.pairs = cache.load()
        log.info("pairs of %s read from the cache %s", self.name, cache.folder)
        for name in self.domain_names:
            info = meta[name]
            used = {split: [p for p in self.pairs[split] if p.domain == name] for split in SPLITS}
            self.splits[name] = DomainSplits(name, used, info["dropped"], info["source"], info["absent"])
            self.available[name] = dict(info["available"])

    def no_pairs(self) -> NoPairsError:
        """The error for a dataset without a train or test pair: why each domain gave none (absent,
        rows dropped by reason), with the counts for results.json `data`."""
        counts = self.counts()
        reasons = []
        for name, c in counts.items():
            drops: Counter[str] = Counter()
            for by_reason in (c["dropped"] or {}).values():
                drops.update(by_reason)
            why = c["absent"] or (", ".join(f"{n} {r}" for r, n in sorted(drops.items())) + " dropped" if drops
                                  else f"{sum(c['available'].values())} pairs available")
            reasons.append(f"{name}: {why}")
        return NoPairsError(f"dataset {self.name!r} produced no pairs at all ({'; '.join(reasons)}); check its "
                            "sources (the run's record keeps these counts under `data`)", counts)

    def cap(self, split: str, domain: str) -> int | None:
        """The most pairs `domain` keeps in `split` (None: all): `dataset.max_pairs.<split>` is
        one number for every domain, or a mapping {domain: number} (a domain it leaves out keeps
        all its pairs)."""
        cap = self.max_pairs.get(split)
        return cap.get(domain) if isinstance(cap, Mapping) else cap

    def counts(self) -> dict:
        """Per domain: pairs used and available per split, where the used pairs came from
        (`composition`: file or hub subset), test pairs whose prompt is also a train prompt
        (`test_prompts_in_train`, by hashing the train prompts once), dropped rows, source.
        Computed once (the pairs never change after loading)."""
        if self._counts is not None:
            return self._counts
        used: dict[str, dict[str, list[Pair]]] = {d: {split: [] for split in SPLITS} for d in self.domain_names}
        for split in SPLITS:
            for p in self.pairs[split]:
                used[p.domain][split].append(p)
        out = {}
        for name in self.domain_names:
            s = self.splits[name]
            train_prompts = {p.prompt for p in used[name]["train"]}
            out[name] = {
                "source": s.source, "absent": s.absent,
                "pairs": {split: len(used[name][split]) for split in SPLITS},
                "available": dict(self.available.get(name) or
                                  {split: len(s.pairs.get(split, [])) for split in SPLITS}),
                "composition": {split: dict(Counter(p.source or "unknown" for p in used[name][split]))
                                for split in SPLITS},
                "test_prompts_in_train": sum(p.prompt in train_prompts for p in used[name]["test"]),
                "dropped": s.dropped,
            }
        self._counts = out
        return out
