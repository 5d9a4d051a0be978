"""Log records of a forked process, said by the process that forked it.

A worker forked to read or convert data (rm_lab/data/domain_reading.py, rm_lab/data/read_ahead.py)
would write its warnings (rows dropped and why) through the handlers it inherited, out of order
with its parent's, or not at all where its own parent keeps them. `capture()` makes a worker keep
its records instead; it sends them with its result and the parent `replay`s them through its own
loggers, so each is said once, where the work it describes is taken in.
"""
from __future__ import annotations

import logging


class Kept(logging.Handler):
    """Every record it sees, as (logger name, level, message)."""

    def __init__(self):
        super().__init__()
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def capture() -> list[tuple[str, int, str]]:
    """From now on this process keeps its log records (in the returned list) and writes none."""
    kept = Kept()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers = []
            logger.propagate = True
    logging.getLogger().handlers = [kept]
    return kept.records


def replay(records) -> None:
    """Records kept by `capture` in another process, said through this process's loggers."""
    for name, level, message in records:
        logging.getLogger(name).log(level, message)
