"""The one atomic writer: a file is written to a temporary name beside it, then renamed over
the target, so a reader never sees half a file and a killed writer leaves the old one intact.

    with atomic_path("cache/x.pt") as tmp:  torch.save(obj, tmp)
    write_json_atomic("run/results.json", {...})
    write_text_atomic("reports/table.md", text)
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once, at import (os.umask can only be read by setting it)


def plain_mode(path: str | Path, folder: bool = False) -> Path:
    """Gives `path` the mode a plain `open(path, "w")` (or `mkdir`) would: 0o666 (0o777) less the
    umask. tempfile's files are 0o600 and its folders 0o700, which would leave results and exports
    readable by their owner only."""
    os.chmod(path, (0o777 if folder else 0o666) & ~UMASK)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path in the target's folder; renamed to `path` when the block ends
    without error, removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        plain_mode(tmp)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_main_process() -> bool:
    """True in a single-process run and in the first process of a multi-process one (the one
    that writes results, components and reports)."""
    from pytorch_lightning.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def write_json_atomic(path: str | Path, payload: dict) -> Path:
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
