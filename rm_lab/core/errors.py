"""Errors whose message says everything: the command prints them on one line, without a traceback.

    raise ConfigValueError("method.lr must be a finite number > 0, got 'abc'")

`ClearError` marks them; each kind also derives from the builtin a caller would catch
(ValueError, RuntimeError, OSError), so code that catches those keeps working.
"""
from __future__ import annotations


class ClearError(Exception):
    """A user's error (a value, a busy folder, a full disk) whose message names what to do."""


class ConfigValueError(ClearError, ValueError):
    """A config value outside its allowed range, found before any data is read."""


class DataReadError(ClearError, ValueError):
    """A data file that cannot be read (named, with the line where there is one)."""


class NoPairsError(ClearError, ValueError):
    """A dataset that produced no pairs; `counts` holds the per-domain counts and drops."""

    def __init__(self, message: str, counts: dict | None = None):
        super().__init__(message)
        self.counts = counts or {}


class RunFolderBusy(ClearError, RuntimeError):
    """Another live process holds the run folder's lock."""


class ResumeConfigChanged(ClearError, ValueError):
    """A resume whose training config differs from the interrupted run's."""


class RunWriteError(ClearError, OSError):
    """A checkpoint or results write failed (a full disk, a quota, a read-only folder)."""


class FolderHoldsRun(ClearError, FileExistsError):
    """A run folder that already holds a completed run (results are never overwritten)."""
