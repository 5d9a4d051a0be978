"""An output file written atomically that never replaces a file it was not told to replace.

    with new_file("scores.jsonl") as tmp:                    # FileExistsError if it exists at the end
        tmp.write_text(...)
    with new_file("scores.jsonl", overwrite=True) as tmp:    # replaces it (the user said --force)
        tmp.write_text(...)

The file is written to a temporary name beside the target, then published: renamed over it
(`overwrite`), else hard-linked to the target name, which fails if a file appeared there meanwhile
(where the file system has no hard links, an existence check and a rename). A reader never sees
half a file; a failed write leaves no temporary file.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rm_lab.core.io import plain_mode


def _exists(path: Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, f"{path} already exists: it is not replaced without --force", str(path))


@contextlib.contextmanager
def new_file(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside `path`; published to `path` when the block ends without
    error (see the module doc), removed in every case."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        plain_mode(tmp)
        yield Path(tmp)
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise _exists(path) from None
        except OSError:  # no hard links here (some network and FAT file systems)
            if os.path.lexists(path):
                raise _exists(path) from None
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
