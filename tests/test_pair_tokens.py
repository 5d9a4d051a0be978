"""A pair's prompt tokenized once (rm_lab/data/pair_tokens.py) gives the ids of the whole
(prompt, response) calls token for token, truncation included; the datamodule's tables are the
same either way, and the chat format keeps the whole calls."""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

import rm_lab.data.datamodule as datamodule
from rm_lab.core.config import compose
from rm_lab.data.pair_tokens import PlainText, SharedPrompt, cut
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


def test_cut_follows_the_rust_truncation_of_every_length_pair(minilm):
    """`cut` against the Rust tokenizer's own longest_first truncation, for every pair of segment
    lengths 0..14 under odd and even limits (both sides cut, one side cut, neither)."""
    from tokenizers import Tokenizer

    rust = Tokenizer.from_str(minilm.backend_tokenizer.to_str())
    rust.no_padding()
    firsts = rust.encode_batch([" ".join(["a"] * n) for n in range(15)], add_special_tokens=False)
    seconds = rust.encode_batch([" ".join(["b"] * n) for n in range(15)], add_special_tokens=False)
    assert [len(w.ids) for w in firsts] == [len(w.ids) for w in seconds] == list(range(15))
    a_id, b_id = firsts[1].ids[0], seconds[1].ids[0]
    for limit in (1, 2, 7, 10):
        rust.enable_truncation(limit, strategy="longest_first")
        for a in firsts:
            for b in seconds:
                kept = rust.post_process(a, b, add_special_tokens=False).ids
                assert cut(len(a.ids), len(b.ids), limit) == (kept.count(a_id), kept.count(b_id))


@pytest.mark.parametrize("which", ["minilm", "smollm2"])
def test_the_python_join_is_taken_for_template_tokenizers(which, minilm, smollm2):
    shared = SharedPrompt.of(minilm if which == "minilm" else smollm2, 64, "pair")
    assert shared.template is not None  # BERT's and SmolLM2's post-processors are templates
    assert (shared.plain_text is not None) == (which == "minilm")  # BERT's normalizer only


def test_plain_texts_skip_the_normalizer_with_the_same_ids(minilm):
    """Texts mixing ASCII (control characters included), curly quotes, dashes and emoji take the
    fast path; accented, upper-case non-ASCII, CJK, zero-width and non-breaking characters keep
    the whole tokenizer; every text gets the whole tokenizer's ids."""
    import random

    from tokenizers import Tokenizer

    whole = Tokenizer.from_str(minilm.backend_tokenizer.to_str())
    whole.no_truncation()
    whole.no_padding()
    fast = PlainText.of(whole)
    assert fast is not None
    rng = random.Random(0)
    pieces = ["Hello", "WORLD", "it\u2019s", "\u201cquoted\u201d", "a\u2014b", "\U0001F600", "x\x00y", "\x7f", "\t",
              "\r\n", "caf\u00e9", "\u00c9COLE", "\u03a3\u039f\u03a3", "\u6771\u4eac", "zero\u200dwidth", "nb\u00a0sp",
              "e\u0301", " ", "42", "!?", "\x0b", "\x1f"]
    texts = ["".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randrange(1, 12)))
             for _ in range(400)]
    texts += ["Plain ASCII, \u201cquotes\u201d and \U0001F600", "Caf\u00e9 \u00c9COLE"]
    assert fast.plain(texts[-2]) and not fast.plain(texts[-1])
    plain = [fast.plain(t) for t in texts]
    assert 50 < sum(plain) < len(texts) - 50  # both paths taken
    assert fast.encode(texts) == [e.ids for e in whole.encode_batch(texts, add_special_tokens=False)]


def test_worker_processes_write_the_same_table(monkeypatch):
    """A large split's chunks tokenized in forked worker processes give the table of this process
    chunk for chunk (several chunks, rows in order), and the workers did run them."""
    import os

    cfg = compose([*SAMPLE, "model.max_length=48"])
    dm = build_data(cfg, backbone=build_backbone(cfg))[0]
    pairs = dm.pairs["train"] * 3
    shared = SharedPrompt.of(dm.tokenizer, 48, "pair")
    real = datamodule.functools.partial(datamodule.tokenize_pairs, tokenizer=dm.tokenizer, input_format="pair",
                                        max_length=48, domain_names=tuple(dm.domain_names), shared=shared)

    def tokenize(batch):
        return {**real(batch), "pid": [os.getpid()] * len(batch["prompt"])}

    monkeypatch.setattr(datamodule, "SHARED_ROWS", 10)
    monkeypatch.setattr(datamodule, "PARALLEL_ROWS", 20)
    here = datamodule.tokenize_shared(pairs, tokenize, None, processes=1).to_dict()
    workers = datamodule.tokenize_shared(pairs, tokenize, None, processes=2).to_dict()
    assert set(here.pop("pid")) == {os.getpid()}
    pids = set(workers.pop("pid"))
    assert len(pids) == 2 and os.getpid() not in pids
    assert workers == here and here["id"] == [p.id for p in pairs] and len(pairs) == 216
