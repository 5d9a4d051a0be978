"""A job's local data files read while it imports its libraries.

A job's first seconds go to importing Lightning, torchmetrics and transformers (6 s on the 2-core
machine of the README's speed section), on one core; reading and converting a paper-size dataset's
local files is Python work on one core too (`make bench-data`: 6-8 s), and it needs none of those
libraries (rm_lab/data/pair_source.py). So a run first calls `start(cfg.dataset)`: where the pairs
would be cached (local files and a cache_dir, rm_lab/data/pair_cache.py) and are not yet, a child
forked from the job reads them into that cache, exactly as the job would (`PairSource.read_and_cache`),
while the job imports. The job's `load_pairs` then `wait`s for it and reads the cache: the same
pairs, and the child's log records (rows dropped and why, caps not reached) are said once, by the
job, as if it had read the files itself; the child says nothing on its own.

A child that fails or is killed leaves no cache (the folder is written whole or not at all) and the
job reads the files itself, with its own messages. A job that ends before it needs its pairs (a
finished run, a plan that cannot start) stops the child at exit; SIGTERM makes it remove its
partial folder. Not started in the ranks of a multi-process run (they find rank 0's cache), for
datasets other than `PreferenceDataModule`, or where `os.fork` does not exist.
"""
from __future__ import annotations

import atexit
import inspect
import json
import os
import signal
import sys

from rm_lab.core import log_records

DATAMODULE = "rm_lab.data.datamodule.PreferenceDataModule"
RANKS = ("LOCAL_RANK", "RANK", "SLURM_PROCID")  # set to a rank other than 0: a process of a multi-process run

_PENDING: dict[str, tuple[int, int]] = {}  # cache folder -> (the child's pid, the read end of its pipe)


def pair_source(dataset):
    """The `PairSource` of a dataset config node (`cfg.dataset`) of a `PreferenceDataModule`: its
    domains built as the datamodule builds them, its pair settings."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from rm_lab.data.pair_source import PairSource

    node = OmegaConf.to_container(dataset, resolve=True)
    params = inspect.signature(PairSource.__init__).parameters
    args = {k: v for k, v in node.items() if k in params and k != "self"}
    args["domains"] = instantiate(args.get("domains") or {}, _convert_="all")
    return PairSource(**args)


def start(dataset) -> bool:
    """Fork a child that reads `dataset`'s (a `cfg.dataset` node) local files into its pair cache;
    whether one was started (see the module's docstring for when)."""
    if not hasattr(os, "fork") or any(os.environ.get(k, "0") != "0" for k in RANKS):
        return False
    if dataset is None or dataset.get("_target_") != DATAMODULE:
        return False
    try:
        source = pair_source(dataset)
        cache = source.pair_cache()
    except Exception:  # noqa: BLE001 - a config the job itself rejects, with its own message
        return False
    if cache is None or cache.exists() or str(cache.folder) in _PENDING:
        return False
    sys.stdout.flush()
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(source, cache, write)  # never returns
    os.close(write)
    if not _PENDING:
        atexit.register(stop)
    _PENDING[str(cache.folder)] = (pid, read)
    return True


def _stopped(signum, frame):
    raise SystemExit(1)


def _child(source, cache, write: int) -> None:
    """Read, cache, send the log records, exit: never returns."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, _stopped)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the job, which stops this child
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        records = log_records.capture()
        source.read_and_cache(cache)
        payload = json.dumps(records).encode()
        while payload:
            payload = payload[os.write(write, payload):]
        code = 0
    except BaseException:  # noqa: BLE001 - the job reads the files itself and says why
        code = 1
    finally:
        os._exit(code)


def _drain(read: int) -> bytes:
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    return b"".join(chunks)


def wait(cache) -> bool:
    """Wait for the child reading into `cache`, if one is; say its log records. Whether it left the
    cache (else the job reads the files itself)."""
    entry = _PENDING.pop(str(cache.folder), None)
    if entry is None:
        return False
    pid, read = entry
    payload = _drain(read)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not cache.exists():
        return False
    log_records.replay(json.loads(payload or b"[]"))
    return True


def stop() -> None:
    """Stop every child still reading (a job that ended before it needed them)."""
    while _PENDING:
        _, (pid, read) = _PENDING.popitem()
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.close(read)
        os.waitpid(pid, 0)
