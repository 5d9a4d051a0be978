"""Checkpoints are read as weights only: a stored file never runs code.

Every checkpoint rm_lab reads (a run's best.ckpt, a resume's last.ckpt, a component's .pt, an
embedding cache) goes through `load_weights`, which calls `torch.load(weights_only=True)`
explicitly: torch's unpickler then accepts tensors and plain containers only, and an explicit
`weights_only=True` is one `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1` cannot turn off (torch >= 2.6).
A file that names anything else (a pickled object whose `__reduce__` would call a function) is
refused with `UnsafeCheckpointError`, a ValueError naming the file and what to do:

    state = load_weights(run_dir / "checkpoints" / "best.ckpt")["state_dict"]
    check_weights(path)        # the same check without keeping the tensors (memory-mapped)
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

from rm_lab.core.errors import ClearError


class UnsafeCheckpointError(ClearError, ValueError):
    """A checkpoint that holds more than weights; refused, nothing in it was run."""


def load_weights(path: str | Path, map_location="cpu", mmap: bool = False):
    """`torch.load(path, weights_only=True)`, whatever the environment says; a file holding
    anything but tensors and plain containers raises UnsafeCheckpointError."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        named = re.search(r"GLOBAL ([\w.]+)", str(err))
        reason = f" (it names {named.group(1)})" if named else ""
        raise UnsafeCheckpointError(
            f"{path} holds more than weights{reason}: rm_lab reads checkpoints with "
            "weights_only=True (whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says) and refused it; nothing in it "
            "was run. A checkpoint rm_lab wrote holds only tensors and plain values: this one was replaced or "
            "comes from elsewhere, so do not load it; re-run the run to write it again") from None


def check_weights(path: str | Path) -> Path:
    """`path` once it loads as weights only (memory-mapped: the tensors are not read into memory)."""
    try:
        load_weights(path, mmap=True)
    except UnsafeCheckpointError:
        raise
    except RuntimeError:  # an old (non-zip) file cannot be memory-mapped: read it whole
        load_weights(path)
    return Path(path)
