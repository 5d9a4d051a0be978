"""Dahoas synthetic-instruct-gptj-pairwise: rows {prompt, chosen, rejected}.

The hub dataset has only a train split; the test split is cut from it by prompt.
"""
from __future__ import annotations

from rm_lab.data.domains.base import Domain
from rm_lab.data.pairs import Pair, make_pair, require_text


class Dahoas(Domain):
    name = "dahoas"

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        return [make_pair(self.name, require_text(row, "prompt"), require_text(row, "chosen"),
                          require_text(row, "rejected"))]
