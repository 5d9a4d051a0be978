"""Peak memory of a stretch of work (a fit, a component's fit), measured, not estimated.

    with PeakMemory(device) as peak:     # the high-water mark starts again from what is held now
        ... work ...
    peak.bytes                           # the most held inside: bytes

Watches nest: an outer one (a whole run's fits) sees the peaks of the inner ones (each
component's fit), though each inner one resets the device's high-water mark.

On a GPU it is torch's peak of allocated CUDA memory; on the CPU the process's peak resident
set (`VmHWM` of /proc/self/status), reset by writing 5 to /proc/self/clear_refs (Linux). Where
that cannot be reset (another OS), the figure is the process's peak so far (`resettable()` says
which). The estimate before a run is rm_lab/runner/memory.py's.
"""
from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")
_resettable: bool | None = None


def _cuda(device) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def resettable() -> bool:
    """Whether the CPU high-water mark can be reset (Linux' clear_refs)."""
    global _resettable
    if _resettable is None:
        try:
            _CLEAR.write_text("5")
            _resettable = True
        except OSError:
            _resettable = False
    return _resettable


def _reset(device=None) -> None:
    if _cuda(device):
        torch.cuda.reset_peak_memory_stats(device)
    elif resettable():
        _CLEAR.write_text("5")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    """The process's resident memory now (Linux), else None."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024


def _peak(device=None) -> int:
    if _cuda(device):
        return int(torch.cuda.max_memory_allocated(device))
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss if sys.platform == "darwin" else maxrss * 1024)  # bytes on macOS, KiB elsewhere


_open: list[PeakMemory] = []


class PeakMemory:
    """The most memory the device held inside the `with` block (`bytes`)."""

    def __init__(self, device=None):
        self.device = device
        self.bytes: int | None = None

    def _fold(self) -> None:
        """The peak so far into every open watch, before the high-water mark is reset."""
        now = _peak(self.device)
        for watch in _open:
            watch.bytes = max(watch.bytes or 0, now)

    def __enter__(self) -> PeakMemory:
        self._fold()
        _reset(self.device)
        self.bytes = 0
        _open.append(self)
        return self

    def __exit__(self, *exc) -> None:
        self._fold()
        _open.remove(self)
