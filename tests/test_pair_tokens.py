"""A pair's prompt tokenized once (rm_lab/data/pair_tokens.py) gives the ids of the whole
(prompt, response) calls token for token, truncation included; the datamodule's tables are the
same either way, and the chat format keeps the whole calls."""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

import rm_lab.data.datamodule as datamodule
from rm_lab.core.config import compose
from rm_lab.data.pair_tokens import SharedPrompt
from rm_lab.data.render import encode, encode_prompt
from rm_lab.models.backbone import Backbone
from rm_lab.runner.build import build_backbone, build_data

SAMPLE = ["dataset=five_domains_sample", "dataset.max_pairs.train=24", "dataset.max_pairs.validation=4",
          "dataset.max_pairs.test=6"]


@pytest.fixture(scope="module")
def minilm():
    return Backbone(name="minilm-l6", source="packaged:minilm").tokenizer()


@pytest.fixture(scope="module")
def smollm2():
    return build_backbone(compose(["model=smollm2-135m"])).tokenizer()


@pytest.fixture(scope="module")
def texts():
    """Prompts and responses of the five bundled domains (a few of each), and edge cases: a long
    prompt and response that both need cutting, a one-word response, non-ASCII text."""
    cfg = compose(SAMPLE)
    dm = build_data(cfg, backbone=build_backbone(cfg))[0]
    pairs = [p for split in ("train", "test") for p in dm.pairs[split]]
    prompts, chosen, rejected = ([p.prompt for p in pairs], [p.chosen for p in pairs], [p.rejected for p in pairs])
    long = " ".join(f"word{i}" for i in range(400))
    prompts += ["\n\nHuman: " + long + "\n\nAssistant:", "Ünïcödé prompt — 東京", "short"]
    chosen += [long, " ok", "x " * 300]
    rejected += [" no", "réponse", "y"]
    return prompts, chosen, rejected


def _whole(tok, prompts, chosen, rejected, max_length) -> dict:
    out = {}
    for side, responses in (("chosen", chosen), ("rejected", rejected)):
        enc = encode(tok, prompts, responses, "pair", max_length)
        out[f"{side}_input_ids"] = enc["input_ids"]
        if "token_type_ids" in enc:
            out[f"{side}_token_type_ids"] = enc["token_type_ids"]
    out["prompt_input_ids"] = encode_prompt(tok, prompts, "pair", max_length)["input_ids"]
    return out


@pytest.mark.parametrize("which", ["minilm", "smollm2"])
@pytest.mark.parametrize("max_length", [512, 40])
def test_the_prompt_tokenized_once_gives_the_ids_of_whole_pair_calls(which, max_length, minilm, smollm2, texts):
    tok = minilm if which == "minilm" else smollm2
    shared = SharedPrompt.of(tok, max_length, "pair")
    assert shared is not None
    whole = _whole(tok, *texts, max_length)
    assert shared(*texts) == whole  # ids and token types, token for token
    assert shared.matches(tok, *texts, max_length)
    assert max(map(len, whole["chosen_input_ids"])) == max_length  # truncation exercised (the long pair)
    if max_length == 40:  # the split's first pairs are cut too: another limit gives other ids, and is seen
        assert not shared.matches(tok, *texts, max_length + 1)


def test_the_chat_format_keeps_whole_calls(smollm2):
    assert SharedPrompt.of(smollm2, 64, "chat") is None


def test_the_datamodule_writes_the_same_tables_either_way(tmp_path, monkeypatch):
    taken = []

    def tables(name: str, shared: bool) -> dict:
        cfg = compose([*SAMPLE, "model.max_length=48"])
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.cache_dir = str(tmp_path / name)
        OmegaConf.resolve(cfg)
        real = datamodule.tokenize_shared
        monkeypatch.setattr(datamodule, "tokenize_shared", lambda *a: taken.append(name) or real(*a))
        if not shared:
            monkeypatch.setattr(datamodule.SharedPrompt, "of", classmethod(lambda cls, *a: None))
        dm = build_data(cfg)[0]
        monkeypatch.undo()
        return {split: (t.features, t.to_dict()) for split, t in dm.tokenized.items()}

    whole, shared = tables("whole", False), tables("shared", True)
    assert taken == ["shared"] * 3  # each split took the shared path once, the other run none
    assert shared == whole and len(shared["train"][1]["chosen_input_ids"]) == 24 * 3  # 3 bundled domains
