"""Raw rows -> Pair rows (one converter per domain) -> tokenized, cached batches."""
from rm_lab.data.pairs import DropLog, Pair

__all__ = ["Pair", "DropLog"]
