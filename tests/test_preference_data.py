"""dataset=preference: every TRL preference shape from a local file (or a hub id), one fixture per
shape (tests/fixtures/preference_*.jsonl: 40 good rows each, then malformed ones)."""
from __future__ import annotations

import json
import socket

import pytest
from hydra.utils import instantiate

from rm_lab.core.config import compose
from rm_lab.core.hub import HubUnavailable, hub_reachable
from rm_lab.data.render import chat_text, render

SHAPES = {  # fixture -> rows dropped, by reason
    "explicit": {"chosen_equals_rejected": 1, "invalid_json": 1, "missing_field": 1},
    "conversational": {"bad_message": 1, "missing_field": 1, "mixed_shapes": 1},
    "implicit": {"chosen_equals_rejected": 1, "non_text_value": 1},
    "conversational_implicit": {"chosen_equals_rejected": 1, "no_shared_prompt": 1},
}


def _domain(*overrides: str):
    return instantiate(compose(["dataset=preference", *overrides]).dataset.domains.preference, _convert_="all")


def _rows(path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


def _all_pairs(domain) -> list:
    loaded = domain.load()
    return loaded, [p for split in ("train", "validation", "test") for p in loaded.pairs[split]]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_trl_shape_gives_its_pairs_and_counts_bad_rows_by_reason(fixtures, shape):
    path = fixtures / f"preference_{shape}.jsonl"
    domain = _domain(f"dataset.domains.preference.path={path}")
    assert domain.name == f"preference_{shape}"  # the file's stem
    loaded, pairs = _all_pairs(domain)
    assert len(pairs) == 40 and all(p.domain == domain.name for p in pairs)
    assert loaded.dropped == {"all": SHAPES[shape]}
    assert all(loaded.pairs[s] for s in ("train", "validation", "test"))
    first = _rows(path)[1]  # a row the split keeps somewhere: find it by its chosen text
    by_id = {p.chosen.strip(): p for p in pairs}
    if shape == "explicit":
        pair = by_id[first["chosen"].strip()]
        assert (pair.prompt, pair.chosen, pair.rejected) == (first["prompt"], first["chosen"], first["rejected"])
    elif shape == "conversational":  # prompt messages -> the HH dialogue text; completions -> their content
        pair = by_id[first["chosen"][0]["content"]]
        assert pair.prompt == f"\n\nHuman: {first['prompt'][0]['content']}\n\nAssistant:"
        assert pair.rejected == first["rejected"][0]["content"]
    elif shape == "implicit":  # TRL's longest common prefix; the space before the cut goes with the completions
        chosen, rejected = first["chosen"], first["rejected"]
        pair = next(p for p in pairs if p.prompt + p.chosen == chosen)
        assert pair.prompt + pair.rejected == rejected and pair.prompt == "Question: What is 9 - 6? Answer: 9 - 6 ="
        assert (pair.chosen, pair.rejected) == (" 3.", " 5.")
    else:  # whole conversations: the shared messages are the prompt
        pair = by_id[first["chosen"][-1]["content"]]
        assert pair.prompt == f"\n\nHuman: {first['chosen'][0]['content']}\n\nAssistant:"
        assert pair.rejected == first["rejected"][-1]["content"]


def test_json_parquet_and_csv_files_give_the_jsonl_pairs(fixtures, tmp_path):
    import datasets

    for shape in ("explicit", "conversational"):
        rows = _rows(fixtures / f"preference_{shape}.jsonl")[:40]
        (tmp_path / f"{shape}.json").write_text(json.dumps(rows))
        datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / f"{shape}.parquet"))
        expected = {p.id for p in _all_pairs(_domain(f"dataset.domains.preference.path={tmp_path}/{shape}.json",
                                                     "dataset.domains.preference.name=x"))[1]}
        assert len(expected) == 40
        for suffix in ("parquet", *(["csv"] if shape == "explicit" else [])):
            if suffix == "csv":
                datasets.Dataset.from_list(rows).to_csv(str(tmp_path / f"{shape}.csv"), index=False)
            domain = _domain(f"dataset.domains.preference.path={tmp_path}/{shape}.{suffix}",
                             "dataset.domains.preference.name=x")
            assert {p.id for p in _all_pairs(domain)[1]} == expected, (shape, suffix)


def test_conversations_render_through_the_chat_template_as_their_turns(fixtures):
    """With model.input_format=chat a conversational row reads as the template writes the original
    conversation (a system turn joins the first user turn)."""
    from rm_lab.models.backbone import Backbone

    tokenizer = Backbone(name="minilm-l6", source="packaged:minilm").tokenizer()
    tokenizer.chat_template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    rows = _rows(fixtures / "preference_conversational.jsonl")[:40]
    pairs = {p.chosen: p for p in _all_pairs(_domain(
        f"dataset.domains.preference.path={fixtures / 'preference_conversational.jsonl'}"))[1]}
    checked = 0
    for row in rows:
        pair = pairs[row["chosen"][0]["content"]]
        prompt = row["prompt"]
        if prompt[0]["role"] == "system":
            prompt = [{"role": "user", "content": f"{prompt[0]['content']}\n\n{prompt[1]['content']}"}, *prompt[2:]]
        assert render(tokenizer, pair.prompt, pair.chosen, "chat") == chat_text(tokenizer, prompt, row["chosen"])
        assert render(tokenizer, pair.prompt, pair.rejected, "chat") == chat_text(tokenizer, prompt, row["rejected"])
        checked += 1
    assert checked == 40
    multi = pairs[rows[0]["chosen"][0]["content"]]  # system, user, assistant, user
    assert render(tokenizer, multi.prompt, multi.chosen, "chat").count("<|user|>") == 2


def test_the_domain_is_named_by_config_and_a_missing_source_says_what_to_set(fixtures, make_cfg):
    path = fixtures / "preference_explicit.jsonl"
    cfg = make_cfg("dataset=preference", f"dataset.domains.preference.path={path}",
                   "dataset.domains.preference.name=arith")
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.load_pairs()
    assert datamodule.domain_names == ["arith"]
    assert {p.domain for p in datamodule.pairs["train"]} == {"arith"}
    assert datamodule.counts()["arith"]["dropped"] == {"all": SHAPES["explicit"]}
    assert _domain().load().absent.startswith("no source: set dataset.domains.preference.path=FILE")


def test_a_hub_id_that_cannot_be_reached_fails_at_once(monkeypatch):
    with socket.socket() as s:  # a local port where nothing listens stands for the hub
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    hub_reachable.cache_clear()
    try:
        with pytest.raises(HubUnavailable, match="trl-lib/ultrafeedback_binarized"):
            _domain("dataset.domains.preference.hub.id=trl-lib/ultrafeedback_binarized").load()
    finally:
        hub_reachable.cache_clear()


@pytest.mark.slow
def test_a_tiny_run_trains_on_a_trl_conversational_file(fixtures, make_cfg):
    from rm_lab.runner.run import run

    path = fixtures / "preference_conversational.jsonl"
    results = run(make_cfg("dataset=preference", f"dataset.domains.preference.path={path}"))
    counts = results["data"]["preference_conversational"]
    assert results["status"] == "completed" and results["dataset"] == "preference"
    assert counts["available"] == {"train": 30, "validation": 6, "test": 4}
    assert counts["pairs"] == {"train": 24, "validation": 6, "test": 4}  # TINY caps train at 24
    assert counts["dropped"] == {"all": SHAPES["conversational"]}
    assert list(results["accuracy"]["per_domain"]) == ["preference_conversational"]
    assert results["accuracy"]["n"] == 4
