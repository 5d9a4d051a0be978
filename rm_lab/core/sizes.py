"""Memory sizes as people type them: `80GB`, `24GiB`, `80G` (as SLURM's --mem reads it: GiB)."""
from __future__ import annotations

import re

UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30,
         "TIB": 2**40, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> float:
    """Bytes in `text`; ValueError naming the accepted units for anything else."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if not match or match.group(2).upper() not in UNITS:
        raise ValueError(f"device memory {text!r}: give a number and a unit, e.g. 80GB (10^9 bytes), 24GiB or "
                         "24G (2^30 bytes, as SLURM's --mem)")
    return float(match.group(1)) * UNITS[match.group(2).upper()]
