"""Every domain of a dataset read and converted, half of the work in a forked process.

Reading local JSON lines and converting rows to pairs is Python work on one core: on the paper-size
files of `make bench-data` (five domains, ~180,000 pairs) 8 s, 3 s of it HH-RLHF's and 3 s
HellaSwag's. With `processes` >= 2, local files of at least `PARALLEL_BYTES` and the fork start
method, the domains are dealt into two sets of about equal file size: a worker forked from this
process reads one (its `DomainSplits` come back pickled) while this process reads the other. Each
domain is read by one process, as it would be alone, so the pairs, their order and the drop counts
are the same; the worker's log records (rows dropped and why) are said by this process. A worker that fails for any reason leaves its domains to this process, which reads
them itself (an unreadable file then fails here, with its own message).
"""
from __future__ import annotations

import logging
import multiprocessing

from rm_lab.core import log_records
from rm_lab.data.domains.base import Domain, DomainSplits, local_paths
from rm_lab.data.sources import list_files

log = logging.getLogger(__name__)

PARALLEL_BYTES = 8 << 20  # smaller local files are read in this process: a worker costs more than it saves

_DOMAINS: dict[str, Domain] = {}  # the domains being read, seen by the forked worker


def local_bytes(domain: Domain) -> int:
    """The size of the local files a domain reads (0 for the hub, or where a file cannot be listed:
    reading it will say why)."""
    total = 0
    for entry in local_paths(domain):
        try:
            total += sum(f.stat().st_size for f in list_files(entry))
        except (OSError, ValueError):
            continue
    return total


def deal(sizes: dict[str, int]) -> tuple[list[str], list[str]]:
    """Domain names in two sets of about equal total size (largest first, each to the lighter
    set): (the worker's, this process's)."""
    sets: tuple[list[str], list[str]] = ([], [])
    totals = [0, 0]
    for name in sorted(sizes, key=lambda n: -sizes[n]):
        lighter = 0 if totals[0] <= totals[1] else 1
        sets[lighter].append(name)
        totals[lighter] += sizes[name]
    return sets


def _read(names: list[str]) -> dict[str, DomainSplits]:
    return {name: _DOMAINS[name].load() for name in names}


def _worker(names: list[str], send) -> None:
    records = log_records.capture()  # said by the parent, with the domains they describe
    try:
        result = ("read", (_read(names), records))
    except BaseException as err:  # noqa: BLE001 - said to the parent, which reads them itself
        result = ("failed", f"{type(err).__name__}: {err}")
    send.send(result)
    send.close()


def read_domains(domains: dict[str, Domain], processes: int | None) -> dict[str, DomainSplits]:
    """`{name: domain.load()}` in the domains' order; see the module's docstring for when a forked
    worker reads half of them."""
    global _DOMAINS
    sizes = {name: local_bytes(domain) for name, domain in domains.items()}
    if ((processes or 0) < 2 or len(domains) < 2 or sum(sizes.values()) < PARALLEL_BYTES
            or "fork" not in multiprocessing.get_all_start_methods()):
        return {name: domain.load() for name, domain in domains.items()}
    away, here = deal(sizes)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    _DOMAINS = dict(domains)
    worker = context.Process(target=_worker, args=(away, send), daemon=True)
    try:
        worker.start()
        send.close()  # the worker's end: a worker that dies closes the pipe (EOFError below)
        splits = _read(here)
        try:
            status, value = receive.recv()
        except (EOFError, OSError) as err:
            status, value = "failed", f"it ended without its pairs ({type(err).__name__})"
        if status == "read":
            splits.update(value[0])
            log_records.replay(value[1])
        else:
            log.info("the worker reading %s failed (%s); reading them in this process", away, value)
            splits.update(_read(away))
    finally:
        _DOMAINS = {}
        if worker.is_alive():
            worker.terminate()
        if worker.pid is not None:
            worker.join()
        receive.close()
    return {name: splits[name] for name in domains}
