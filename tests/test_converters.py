"""Each domain converter on the bundled real samples and on hub-schema fixtures."""
from __future__ import annotations

import json

import pytest

from rm_lab.core.config import SAMPLES_DIR
from rm_lab.data.domains.dahoas import Dahoas
from rm_lab.data.domains.hellaswag import HellaSwag
from rm_lab.data.domains.hh_rlhf import HHRLHF, MARKER
from rm_lab.data.domains.oasst import OpenAssistant
from rm_lab.data.domains.shp import SHP
from rm_lab.data.pairs import DropLog

HH_FILES = [str(SAMPLES_DIR / "hh_rlhf/harmless-base-test.jsonl.gz"),
            str(SAMPLES_DIR / "hh_rlhf/helpful-base-test-first2000.jsonl.gz")]


def all_pairs(splits):
    return splits.pairs["train"] + splits.pairs["validation"] + splits.pairs["test"]


def test_hh_rlhf_sample_splits_at_last_assistant_turn():
    splits = HHRLHF(path=HH_FILES, test_fraction=0.2).load()
    pairs = all_pairs(splits)
    dropped = splits.dropped["all"]
    # 2,312 + 2,000 rows in the two files: every row is kept or counted as dropped
    assert len(pairs) + sum(dropped.values()) == 4312
    assert dropped["prompt_mismatch"] >= 5  # the harmless file alone has five
    for p in pairs[:200]:
        assert p.prompt.endswith(MARKER)
        assert MARKER not in p.chosen and MARKER not in p.rejected
        assert p.chosen.strip() != p.rejected.strip()
        assert p.domain == "hh_rlhf" and p.id.startswith("hh_rlhf:")
    assert {p.id for p in splits.pairs["train"]}.isdisjoint(p.id for p in splits.pairs["test"])
    assert 0.15 < len(splits.pairs["test"]) / len(pairs) < 0.25
    assert 0.05 < len(splits.pairs["validation"]) / len(pairs) < 0.15  # validation_fraction 0.1


def test_split_and_ids_are_stable_across_loads():
    a, b = HHRLHF(path=HH_FILES[0]).load(), HHRLHF(path=HH_FILES[0]).load()
    assert [p.id for p in a.pairs["test"]] == [p.id for p in b.pairs["test"]]


def test_hellaswag_sample_uses_label_and_a_seeded_wrong_ending():
    path = SAMPLES_DIR / "hellaswag/hellaswag_val_sample800.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    pairs = list(HellaSwag(path=str(path)).convert(rows, DropLog("hellaswag", "all")))
    assert len(pairs) == 800
    for row, pair in zip(rows, pairs):
        assert pair.prompt == row["ctx"]
        assert pair.chosen == row["endings"][row["label"]]
        assert pair.rejected in row["endings"] and pair.rejected != pair.chosen
    again = list(HellaSwag(path=str(path)).convert(rows, DropLog("hellaswag", "all")))
    assert [p.rejected for p in pairs] == [p.rejected for p in again]
    other_seed = list(HellaSwag(path=str(path), seed=1).convert(rows, DropLog("hellaswag", "all")))
    assert [p.rejected for p in pairs] != [p.rejected for p in other_seed]


def test_hellaswag_hub_schema_string_labels_and_unlabelled_rows(fixtures):
    rows = [json.loads(line) for line in (fixtures / "hellaswag_hub.jsonl").read_text().splitlines()]
    drops = DropLog("hellaswag", "all")
    pairs = list(HellaSwag().convert(rows, drops))
    assert len(pairs) == 6
    assert [p.chosen for p in pairs] == [r["endings"][int(r["label"])] for r in rows[:6]]
    assert drops.to_dict() == {"missing_label": 1}


def test_shp_labels_pick_the_preferred_reply(fixtures):
    rows = [json.loads(line) for line in (fixtures / "shp.jsonl").read_text().splitlines()]
    pairs = list(SHP().convert(rows, DropLog("shp", "all")))
    assert len(pairs) == len(rows)
    for row, pair in zip(rows, pairs):
        assert pair.prompt == row["history"]
        preferred = row["human_ref_A"] if row["labels"] == 1 else row["human_ref_B"]
        assert pair.chosen == preferred
        assert pair.rejected in (row["human_ref_A"], row["human_ref_B"]) and pair.rejected != preferred


def test_dahoas_train_only_is_split_deterministically(fixtures):
    splits = Dahoas(path=str(fixtures / "dahoas.jsonl"), test_fraction=0.25).load()
    train, test = splits.pairs["train"], splits.pairs["test"]
    assert len(all_pairs(splits)) == 40 and test and train
    assert {p.id for p in train}.isdisjoint(p.id for p in test)
    again = Dahoas(path=str(fixtures / "dahoas.jsonl"), test_fraction=0.25).load()
    assert [p.id for p in again.pairs["test"]] == [p.id for p in test]


def test_oasst_flat_table_ranks_and_skips(fixtures):
    splits = OpenAssistant(path=str(fixtures / "oasst_flat.jsonl"), test_fraction=0.5).load()
    pairs = all_pairs(splits)
    got = sorted((p.prompt, p.chosen.strip(), p.rejected.strip()) for p in pairs)
    egg = "\n\nHuman: How do I boil an egg?\n\nAssistant:"
    best = "Place the egg in boiling water for nine minutes, then cool it in cold water."
    soft = ("\n\nHuman: How do I boil an egg?\n\nAssistant: " + best +
            "\n\nHuman: And for a soft yolk?\n\nAssistant:")
    assert got == sorted([
        (egg, best, "Just cook it."),
        (egg, best, "Put it in water and heat it until done, about ten minutes."),
        (soft, "About six minutes gives a soft yolk.", "Less time."),
    ])
    assert splits.dropped["all"] == {"deleted_message": 1, "not_english": 1, "synthetic_message": 1}


def test_oasst_all_ranked_pairs_option(fixtures):
    splits = OpenAssistant(path=str(fixtures / "oasst_flat.jsonl"), all_ranked_pairs=True).load()
    assert len(all_pairs(splits)) == 4


def test_oasst_nested_trees_and_flat_table_give_the_same_pairs(tmp_path):
    tree_file = SAMPLES_DIR / "oasst/oasst_en_80_trees.jsonl"
    nested = all_pairs(OpenAssistant(path=str(tree_file)).load())
    assert len(nested) > 100
    # Flatten the same trees into the hub's message-table layout and convert again.
    flat_rows = []

    def walk(node, parent, tree_id):
        flat_rows.append({**{k: v for k, v in node.items() if k != "replies"},
                          "parent_id": parent, "message_tree_id": tree_id})
        for reply in node.get("replies", []):
            walk(reply, node["message_id"], tree_id)

    for line in tree_file.read_text().splitlines():
        tree = json.loads(line)
        walk(tree["prompt"], None, tree["message_tree_id"])
    flat_file = tmp_path / "flat.jsonl"
    flat_file.write_text("\n".join(json.dumps(r) for r in flat_rows))
    flat = all_pairs(OpenAssistant(path=str(flat_file)).load())
    assert sorted(p.id for p in flat) == sorted(p.id for p in nested)
    assert not any("synthetic" in p.prompt.lower() and "chip20b" in p.prompt for p in nested)


def test_malformed_rows_are_counted_by_reason_and_skipped(fixtures):
    splits = HHRLHF(path=str(fixtures / "hh_malformed.jsonl"), test_fraction=0.5).load()
    assert len(all_pairs(splits)) == 2
    assert splits.dropped["all"] == {
        "chosen_equals_rejected": 1, "empty_text": 2, "invalid_json": 1, "missing_field": 1,
        "no_assistant_turn": 1, "non_text_value": 1, "not_an_object": 1, "prompt_mismatch": 1,
    }


def test_missing_file_names_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        HHRLHF(path=str(tmp_path / "nope.jsonl")).load()
