"""model.input_format: chat-template rendering for decoders, the pair format kept as it was.

The packaged SmolLM2-135M-Instruct tokenizer (a GGUF, a few seconds to load) is built once per
module; nothing here trains.
"""
from __future__ import annotations

import copy

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rm_lab.core.config import compose
from rm_lab.core.hub import HubUnavailable
from rm_lab.data.render import check_format, encode, encode_prompt, render, to_messages
from rm_lab.models import backbone as backbone_module
from rm_lab.models.backbone import Backbone
from rm_lab.runner.build import build_backbone, build_data

HH_PROMPT = ("\n\nHuman: Hi there, can you help me bake bread?\n\nAssistant: Sure! What kind of bread?"
             "\n\nHuman: A sourdough loaf, please.\n\nAssistant:")
RESPONSE = " Start by feeding your starter the night before."
SHARDS = ["dataset.max_pairs.train=4", "dataset.max_pairs.validation=2", "dataset.max_pairs.test=2"]


def _cfg(tmp, *overrides):
    cfg = compose([*SHARDS, *overrides])
    cfg.paths.output_dir = str(tmp / "run")
    cfg.paths.cache_dir = str(tmp / "cache")
    OmegaConf.resolve(cfg)
    return cfg


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """(config, backbone) of model=smollm2-135m; its tokenizer loaded once."""
    cfg = _cfg(tmp_path_factory.mktemp("smollm2"), "model=smollm2-135m")
    backbone = build_backbone(cfg)
    backbone.tokenizer()
    return cfg, backbone


@pytest.fixture(scope="module")
def minilm():
    """An encoder tokenizer without a chat template (the packaged MiniLM)."""
    return Backbone(name="minilm-l6", source="packaged:minilm").tokenizer()


def test_decoder_zoo_reads_chat_and_encoders_and_gpt2_read_pair():
    for name in ("smollm2-135m", "qwen2.5-0.5b-instruct", "gemma-2-2b-it", "llama-3.2-1b-instruct"):
        assert compose([f"model={name}"]).model.input_format == "chat", name
    for name in ("gpt2", "minilm-l6", "deberta-v3-base", "tiny-deberta"):
        assert compose([f"model={name}"]).model.input_format == "pair", name
    with pytest.raises(ValueError, match=r"model.input_format must be one of \['pair', 'chat'\]"):
        Backbone(name="x", source="x", input_format="xml")


def test_hh_dialogue_becomes_alternating_turns_and_a_plain_prompt_one_user_turn():
    assert to_messages(HH_PROMPT) == [
        {"role": "user", "content": "Hi there, can you help me bake bread?"},
        {"role": "assistant", "content": "Sure! What kind of bread?"},
        {"role": "user", "content": "A sourdough loaf, please."},
    ]
    assert to_messages("A man is sitting on a roof. He") == [
        {"role": "user", "content": "A man is sitting on a roof. He"}]
    # OpenAssistant renders its conversations the same way; an empty turn is dropped and the
    # turns around it joined, so roles still alternate
    assert to_messages("\n\nHuman: one\n\nAssistant: \n\nHuman: two\n\nAssistant:") == [
        {"role": "user", "content": "one\n\ntwo"}]


def test_chat_render_keeps_turns_in_order_and_ends_with_eos(smollm2):
    _, backbone = smollm2
    tok = backbone.tokenizer()
    text = render(tok, HH_PROMPT, RESPONSE, "chat")
    assert text.endswith(tok.eos_token)
    turns = ["Hi there, can you help me bake bread?", "Sure! What kind of bread?", "A sourdough loaf, please.",
             RESPONSE.strip()]
    positions = [text.index(t) for t in turns]
    assert positions == sorted(positions)
    assert text.count("<|im_start|>user") == 2 and text.count("<|im_start|>assistant") == 2
    ids = encode(tok, HH_PROMPT, RESPONSE, "chat", backbone.max_length)["input_ids"]
    assert ids[-1] == tok.eos_token_id
    assert ids == tok(text, add_special_tokens=False)["input_ids"]  # the template's tokens, none added
    # prompts alone (routers): the same turns and the template's generation prompt
    prompt_ids = encode_prompt(tok, HH_PROMPT, "chat", backbone.max_length)["input_ids"]
    assert tok.decode(prompt_ids).endswith("A sourdough loaf, please.<|im_end|>\n<|im_start|>assistant\n")


def test_chat_truncation_keeps_the_response_and_eos(smollm2):
    _, backbone = smollm2
    tok = backbone.tokenizer()
    long_prompt = "\n\nHuman: " + "tell me more about bread " * 100 + "\n\nAssistant:"
    ids = encode(tok, long_prompt, RESPONSE, "chat", 32)["input_ids"]
    assert len(ids) == 32 and ids[-1] == tok.eos_token_id
    assert RESPONSE.strip() in tok.decode(ids)


@pytest.mark.parametrize("which", ["minilm", "smollm2"])
def test_pair_format_is_todays_tokenization(which, minilm, smollm2):
    tok = minilm if which == "minilm" else smollm2[1].tokenizer()
    long_prompt = "\n\nHuman: " + "why is the sky blue " * 60 + "\n\nAssistant:"
    for prompt, response in [(HH_PROMPT, RESPONSE), (long_prompt, RESPONSE), ("A man walks in.", " He sits.")]:
        for max_length in (16, 128):
            expected = tok(prompt, response, truncation=True, max_length=max_length)
            got = encode(tok, prompt, response, "pair", max_length)
            assert dict(got) == dict(expected)
            assert dict(encode_prompt(tok, prompt, "pair", max_length)) == dict(
                tok(prompt, truncation=True, max_length=max_length))
    assert render(tok, HH_PROMPT, RESPONSE, "pair") == (HH_PROMPT, RESPONSE)


@pytest.mark.slow
def test_pair_rows_of_the_datamodule_are_todays(make_cfg):
    cfg = make_cfg()  # tiny-deberta: the MiniLM tokenizer, max_length 64, pair
    datamodule, backbone = build_data(cfg)
    tok, length = backbone.tokenizer(), backbone.max_length
    rows = datamodule.tokenized["train"]
    for pair, chosen, rejected, prompt in zip(datamodule.pairs["train"], rows["chosen_input_ids"],
                                              rows["rejected_input_ids"], rows["prompt_input_ids"]):
        assert chosen == tok(pair.prompt, pair.chosen, truncation=True, max_length=length)["input_ids"]
        assert rejected == tok(pair.prompt, pair.rejected, truncation=True, max_length=length)["input_ids"]
        assert prompt == tok(pair.prompt, truncation=True, max_length=length)["input_ids"]


def test_chat_on_a_tokenizer_without_a_template_fails_clearly(minilm, make_cfg):
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template.*model.input_format=pair"):
        render(minilm, HH_PROMPT, RESPONSE, "chat")
    with pytest.raises(ValueError, match=r"model.input_format must be one of \['pair', 'chat'\]"):
        check_format(minilm, "xml")
    cfg = make_cfg("model.input_format=chat")  # tiny-deberta reads the MiniLM tokenizer
    backbone = build_backbone(cfg)
    datamodule = instantiate(cfg.dataset, _convert_="all")
    with pytest.raises(ValueError, match="chat template"):  # the hand-off of build_data, before any tokens
        datamodule.attach_tokenizer(backbone.tokenizer(), backbone.max_length, backbone.input_format)


def test_a_stand_in_tokenizer_without_a_template_reads_pair(make_cfg, monkeypatch):
    def unreachable(*args, **kwargs):
        raise HubUnavailable("no hub here")

    monkeypatch.setattr(backbone_module, "_from_hub", unreachable)
    backbone = instantiate(make_cfg("model=qwen2.5-0.5b-instruct", "model.pretrained=false").model, _convert_="all")
    assert backbone.input_format == "chat"
    backbone.tokenizer()  # the MiniLM stand-in: no chat template
    assert backbone.input_format == "pair"


def test_datamodule_chat_rows_end_with_eos_and_never_share_the_pair_cache(smollm2):
    cfg, backbone = smollm2
    tok = backbone.tokenizer()
    datamodule, _ = build_data(cfg, backbone)
    assert datamodule.input_format == "chat"
    generation = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    for split in ("train", "validation", "test"):
        rows = datamodule.tokenized[split]
        assert len(rows) > 0
        for side in ("chosen_input_ids", "rejected_input_ids"):
            assert all(ids[-1] == tok.eos_token_id for ids in rows[side])
        assert all(ids[-len(generation):] == generation for ids in rows["prompt_input_ids"])
    chat_file = datamodule._cache_file("train")
    chat_rows = datamodule.tokenized["train"]["chosen_input_ids"]
    datamodule.attach_tokenizer(tok, backbone.max_length, "pair")
    assert datamodule._cache_file("train") != chat_file
    datamodule.setup("fit")
    pair_rows = datamodule.tokenized["train"]["chosen_input_ids"]
    assert pair_rows != chat_rows
    assert pair_rows[0] == tok(datamodule.pairs["train"][0].prompt, datamodule.pairs["train"][0].chosen,
                               truncation=True, max_length=backbone.max_length)["input_ids"]


def test_eos_is_appended_only_where_the_template_does_not_end_with_it(minilm):
    tok = copy.deepcopy(minilm)
    tok.eos_token = "[SEP]"
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"  # Gemma-like
    assert render(tok, "Hi", " Hello", "chat") == "[user] Hi\n[assistant]  Hello\n[SEP]"  # the response as given
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}[SEP]{% endfor %}"  # Llama-3-like
    assert render(tok, "Hi", " Hello", "chat") == "[user] Hi[SEP][assistant]  Hello[SEP]"
    ids = encode(tok, "Hi", " Hello", "chat", 64)["input_ids"]
    assert ids[-1] == tok.sep_token_id and ids.count(tok.cls_token_id) == 0  # no special tokens added


def test_a_decoder_pads_with_a_token_no_input_ends_with(smollm2):
    """SmolLM2's own pad is EOS (<|im_end|>), the token every chat input ends with: the backbone pads
    with a spare special token instead, so transformers' rule (the rightmost token that is not
    pad_token_id) finds the token the attention mask's last position holds, EOS."""
    import torch

    cfg, backbone = smollm2
    tok = backbone.tokenizer()
    assert tok.pad_token == "<empty_output>" and tok.pad_token_id not in (tok.eos_token_id, tok.bos_token_id)
    assert tok.pad_token not in tok.chat_template
    datamodule, _ = build_data(cfg, backbone)
    batch = next(iter(datamodule.test_dataloader()))
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (mask == 0).any()  # the batch is padded
    last_by_mask = mask.sum(1) - 1
    rows = torch.arange(ids.size(0))
    assert (ids[rows, last_by_mask] == tok.eos_token_id).all()
    assert (ids[mask == 0] == tok.pad_token_id).all()
    positions = torch.arange(ids.size(1))
    last_by_pad = (positions * (ids != tok.pad_token_id)).argmax(-1)
    assert torch.equal(last_by_pad, last_by_mask)


def test_decoder_pad_choice_keeps_a_distinct_pad_and_prefers_a_pad_named_spare(smollm2, minilm):
    from rm_lab.models.backbone import decoder_pad_token

    tok = copy.deepcopy(smollm2[1].tokenizer())
    tok.pad_token = tok.eos_token
    assert decoder_pad_token(tok) == "<empty_output>"  # the last spare special token
    tok.add_special_tokens({"additional_special_tokens": ["<|finetune_right_pad_id|>"]})
    assert decoder_pad_token(tok) == "<|finetune_right_pad_id|>"  # Llama-3's spare pad, by name
    tok.pad_token = "<|endoftext|>"
    tok.unk_token = None
    assert decoder_pad_token(tok) == "<|endoftext|>"  # a pad distinct from BOS/EOS/UNK is kept (Qwen2)
    bert = copy.deepcopy(minilm)
    bert.eos_token = bert.pad_token = "[SEP]"
    assert decoder_pad_token(bert) == "[PAD]"
    bert.bos_token = "[PAD]"  # every special token named (GPT-2: its one, <|endoftext|>): none spare
    assert decoder_pad_token(bert) is None
