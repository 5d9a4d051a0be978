"""What a run leaves behind and how it is read back: RunDir (every path), the results schema, publishing to loggers."""
from rm_lab.rundir.layout import RunDir

__all__ = ["RunDir"]
