"""Stanford SHP (hub `stanfordnlp/SHP`): prompt = `history`; `labels` 1 means A is preferred.
Pairs of one post (`post_id`, many pairs each) stay on one side of a split."""
from __future__ import annotations

from rm_lab.data.domains.base import Domain
from rm_lab.data.pairs import MalformedRow, Pair, make_pair, require_text


class SHP(Domain):
    name = "shp"

    def convert_row(self, row: dict, index: int) -> list[Pair]:
        history = require_text(row, "history")
        ref_a = require_text(row, "human_ref_A")
        ref_b = require_text(row, "human_ref_B")
        label = row.get("labels")
        if isinstance(label, str) and label.strip() in {"0", "1"}:
            label = int(label)
        if isinstance(label, bool) or label not in (0, 1):
            raise MalformedRow("bad_label", repr(label))
        chosen, rejected = (ref_a, ref_b) if label == 1 else (ref_b, ref_a)
        post = row.get("post_id")
        return [make_pair(self.name, history, chosen, rejected, group=f"post:{post}" if post else "")]
