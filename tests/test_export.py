"""Exporting a trained run: python -m rm_lab.export RUN_DIR OUT_DIR [--format] [--push-to-hub]."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from rm_lab.cli.export import main as export_main
from rm_lab.core.config import compose
from rm_lab.inference.export import transformers_refusal

TINY = ["model=tiny-deberta", "dataset.max_pairs.train=24", "dataset.max_pairs.validation=8",
        "dataset.max_pairs.test=12", "dataset.batch_size=8", "logger=csv"]
SMALL = ["dataset.max_pairs.train=8", "dataset.max_pairs.test=6", "dataset.batch_size=4"]

# tiny backbones built from config (random weights) that read the packaged tokenizers offline
TINY_BERT = ["model=minilm-l6", "model.pretrained=false", "model.model_type=bert", "model.max_length=64",
             *(f"+model.architecture.{k}={v}" for k, v in {"hidden_size": 32, "num_hidden_layers": 2,
                                                          "num_attention_heads": 2, "intermediate_size": 64}.items())]
TINY_ROBERTA = ["model=roberta-base", "dataset=five_domains_sample", "model.pretrained=false", "+model.tokenizer=packaged:minilm",
                "model.max_length=64", "model.architecture.vocab_size=30522", "model.architecture.pad_token_id=0",
                *(f"model.architecture.{k}={v}" for k, v in {"hidden_size": 32, "num_hidden_layers": 2,
                                                             "num_attention_heads": 2, "intermediate_size": 64}.items())]
TINY_LLAMA = ["model=smollm2-135m", "model.pretrained=false", "model.model_type=llama", "model.max_length=64",
              *(f"+model.architecture.{k}={v}" for k, v in {
                  "vocab_size": 49152, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                  "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": True}.items())]

# loads the export with transformers alone (rm_lab is never imported) and prints each pair's two logits,
# scored one input at a time and again as one right-padded batch; chat pairs carry their prompt's messages
TRANSFORMERS_ONLY = r"""
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

folder, pairs = sys.argv[1], json.load(open(sys.argv[2]))
model = AutoModelForSequenceClassification.from_pretrained(folder).float().eval()
tok = AutoTokenizer.from_pretrained(folder)
assert model.config.num_labels == 1 and tok.truncation_side == "left", (model.config.num_labels, tok.truncation_side)

def encode(pairs, responses, **kwargs):
    if "messages" not in pairs[0]:
        return tok([p["prompt"] for p in pairs], responses, truncation=True, max_length=tok.model_max_length,
                   return_tensors="pt", **kwargs)
    texts = []
    for pair, response in zip(pairs, responses):
        text = tok.apply_chat_template(pair["messages"] + [{"role": "assistant", "content": response}],
                                       tokenize=False)
        texts.append(text.rstrip() if text.rstrip().endswith(tok.eos_token) else text + tok.eos_token)
    return tok(texts, add_special_tokens=False, truncation=True, max_length=tok.model_max_length,
               return_tensors="pt", **kwargs)

out, batched = [], []
with torch.no_grad():
    for pair in pairs:
        out.append([float(model(**encode([pair], [r])).logits[0, 0]) for r in (pair["chosen"], pair["rejected"])])
    for side in ("chosen", "rejected"):
        batched.append([float(x) for x in model(**encode(pairs, [p[side] for p in pairs], padding=True)).logits[:, 0]])
assert "rm_lab" not in sys.modules
print(json.dumps({"logits": out, "batched": [list(row) for row in zip(*batched)], "max_length": tok.model_max_length,
                  "class": type(model).__name__, "pad_token_id": model.config.pad_token_id}))
"""


def _train(root: Path, *overrides: str) -> Path:
    from rm_lab.runner.run import run

    cfg = compose([*TINY, *overrides])
    cfg.paths.output_dir = str(root / "run")
    cfg.paths.cache_dir = str(root / "cache")
    OmegaConf.resolve(cfg)
    run(cfg)
    return root / "run"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny trained runs, made on first use and shared by the tests below."""
    made: dict[str, Path] = {}
    overrides = {"baseline": ["method.lr=1e-3"], "base_lora": ["method=base_lora", "method.lr=1e-3"],
                 "rodos": ["method=rodos", *SMALL], "bert": [*TINY_BERT, "method.lr=1e-3"],
                 "bert_lora": [*TINY_BERT, "method=base_lora", "method.lr=1e-3"],
                 "roberta": [*TINY_ROBERTA, "method.lr=1e-3"], "llama": [*TINY_LLAMA, "method.lr=1e-3"],
                 "bert_linear": [*TINY_BERT, "model.head=linear", "method.lr=1e-3"]}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = _train(tmp_path_factory.mktemp(name), *overrides[name])
        return made[name]

    return get


def _test_pairs(run_dir: Path) -> list[dict]:
    from rm_lab.runner.build import build_data

    results = json.loads((run_dir / "results.json").read_text())
    datamodule, _ = build_data(OmegaConf.create(results["config"]))
    return [p.to_dict() for p in datamodule.pairs["test"]]


def _round_trip(run_dir: Path, out: Path, tmp_path: Path, **options) -> dict:
    """The export at `out` loaded by transformers alone (a subprocess that never imports rm_lab) on
    the run's test pairs: its logits, one by one and batched, must be the run's rewards (1e-4)."""
    from rm_lab.data.render import to_messages
    from rm_lab.inference.scorer import load_reward_model

    pairs = _test_pairs(run_dir)
    if options.get("chat"):
        pairs = [{**pair, "messages": to_messages(pair["prompt"])} for pair in pairs]
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", TRANSFORMERS_ONLY, str(out), str(tmp_path / "pairs.json")],
                          check=False, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = load_reward_model(run_dir, progress=False).score_pairs(pairs)
    for key in ("logits", "batched"):
        diff = max(abs(a - b) for row, ref in zip(got[key], expected, strict=True) for a, b in zip(row, ref))
        assert diff <= 1e-4, (key, diff)
    assert len({round(r, 4) for row in expected for r in row}) > 1  # the rewards are not all one constant
    return got


@pytest.mark.slow
@pytest.mark.parametrize("method", ["baseline", "base_lora"])
def test_baseline_and_base_lora_load_with_plain_transformers(runs, method, tmp_path):
    run_dir, out = runs(method), tmp_path / "export"
    assert export_main([str(run_dir), str(out)]) == 0
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "README.md", "manifest.json"} <= {
        p.name for p in out.iterdir()}
    assert not list(tmp_path.glob(".export.*"))  # the staging folder was renamed, nothing left over
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["DebertaV2ForSequenceClassification"] and "auto_map" not in config
    assert config["pooler_hidden_act"] == "linear" and config["id2label"] == {"0": "reward"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "transformers" and manifest["check"]["max_abs_diff"] <= 1e-4

    got = _round_trip(run_dir, out, tmp_path)
    assert got["class"] == "DebertaV2ForSequenceClassification" and got["max_length"] == 64

    card = (out / "README.md").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["labels"]["method"] in card and "tiny-deberta" in card and "| seed | 0 |" in card
    for domain, row in results["accuracy"]["per_domain"].items():
        assert f"| {domain} | {row['accuracy']:.4f} |" in card


@pytest.mark.slow
def test_rodos_exports_a_folder_rm_lab_loads(runs, tmp_path):
    import rm_lab

    source = runs("rodos")
    run_dir = shutil.copytree(source, tmp_path / "run")  # the export must not need the run afterwards
    out = tmp_path / "export"
    code = export_main([str(run_dir), str(tmp_path / "refused"), "--format", "transformers"])
    assert code == 2 and not (tmp_path / "refused").exists()
    assert export_main([str(run_dir), str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "run" and manifest["method"] == "rodos"
    assert manifest["backbone_weights"] == "shipped in components/"
    assert (out / "components" / "manifest.json").exists() and (out / "results.json").exists()
    from rm_lab.core.io import UMASK

    readable = 0o044 & ~UMASK  # others may read an export as far as the umask lets them (not mkdtemp's 0o700)
    assert all(path.stat().st_mode & readable == readable for path in [out, *out.rglob("*")])

    pairs = _test_pairs(source)
    expected = rm_lab.load_reward_model(run_dir, progress=False).score_pairs(pairs)
    shutil.rmtree(run_dir)
    got = rm_lab.load_reward_model(out, progress=False).score_pairs(pairs)
    assert [r for pair in got for r in pair] == pytest.approx([r for pair in expected for r in pair], abs=1e-6)


@pytest.mark.slow
def test_a_transformers_export_is_not_a_run_folder(runs, tmp_path):
    from rm_lab.inference.scorer import ModelLoadError, load_reward_model

    out = tmp_path / "export"
    assert export_main([str(runs("baseline")), str(out)]) == 0
    with pytest.raises(ModelLoadError, match="transformers export"):
        load_reward_model(out)


def test_push_to_hub_fails_fast_and_writes_nothing(tmp_path, write_run, monkeypatch, capsys):
    from rm_lab.core.hub import hub_reachable

    run_dir = tmp_path / "run"
    write_run(run_dir / "results.json")
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    hub_reachable.cache_clear()
    try:
        start = time.monotonic()
        code = export_main([str(run_dir), str(tmp_path / "out"), "--push-to-hub", "someone/reward-model"])
        elapsed = time.monotonic() - start
    finally:
        hub_reachable.cache_clear()
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 10
    assert "Cannot reach the Hugging Face hub" in err and "someone/reward-model" in err and "Nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline caches can be read, never pushed to
    assert export_main([str(run_dir), str(tmp_path / "out"), "--push-to-hub", "someone/reward-model"]) == 2
    assert "offline mode is set" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_existing_out_dir_is_refused(tmp_path, write_run, capsys):
    run_dir = tmp_path / "run"
    write_run(run_dir / "results.json")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert export_main([str(run_dir), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    assert export_main([str(run_dir), str(tmp_path / "file")]) == 2
    assert "never overwrites" in capsys.readouterr().err


@pytest.mark.parametrize("model, model_type", [
    ("minilm-l6", "bert"), ("bert-base", "bert"), ("roberta-base", "roberta"), ("gpt2", "gpt2"),
    ("qwen2.5-0.5b-instruct", "qwen2"), ("smollm2-135m", "llama"), ("gemma-2-2b-it", "gemma2"),
    ("tiny-deberta", "deberta-v2"), ("deberta-v3-base", "deberta-v2")])
def test_every_family_exports_with_its_default_head(model, model_type):
    assert transformers_refusal(compose(["method=baseline", f"model={model}"]), model_type) is None
    assert transformers_refusal(compose(["method=base_lora", f"model={model}"]), model_type) is None
    assert "not one reward model" in transformers_refusal(compose(["method=more", f"model={model}"]), model_type)


@pytest.mark.parametrize("overrides, model_type, reason", [
    (["model=minilm-l6", "model.head=linear"], "bert", "tanh"),
    (["model=roberta-base", "model.head=linear"], "roberta", "tanh"),
    (["model=qwen2.5-0.5b-instruct", "model.head=linear"], "qwen2", "bias-free"),
    (["model=tiny-deberta", "model.head=pooler"], "deberta-v2", "ContextPooler"),
    (["model=tiny-deberta", "model.pooling=mean"], "deberta-v2", "reads the first token only"),
    (["model=minilm-l6", "model.pooling=mean"], "bert", "reads the first token only"),
    (["model=smollm2-135m", "model.pooling=mean"], "llama", "reads the last non-padding token only"),
    (["model=minilm-l6"], "t5", "no exact transformers classification head")])
def test_what_cannot_map_is_refused_with_the_reason(overrides, model_type, reason):
    why = transformers_refusal(compose(["method=baseline", *overrides]), model_type)
    assert why is not None and reason in why, why
    if "model.head" in overrides[-1]:
        assert "retrain with model.head=" in why and "Backbones that export to transformers" in why


def test_an_old_bert_run_without_a_head_key_reads_linear_and_is_refused(tmp_path, make_cfg, write_run, capsys):
    cfg = make_cfg("method=baseline", "model=minilm-l6")
    config = OmegaConf.to_container(cfg, resolve=True)
    del config["model"]["head"]  # saved before model.head existed: the linear head
    run_dir = tmp_path / "minilm_run"
    write_run(run_dir / "results.json", method="baseline", model="minilm-l6", config=config)
    assert export_main([str(run_dir), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model.head=linear" in err and "tanh" in err and "retrain with model.head=pooler" in err
    assert "--format run" in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_a_head_design_that_cannot_be_built_fails_before_training():
    from rm_lab.models.backbone import Backbone
    from rm_lab.models.heads import RewardModel
    from rm_lab.runner.build import build_backbone

    with pytest.raises(ValueError, match=r"model.head must be one of \['linear', 'pooler', 'nobias'\]"):
        Backbone(name="x", source="x", head="tanh")
    with pytest.raises(ValueError, match="has no pooler.*model.head=linear"):
        RewardModel(build_backbone(compose(["model=tiny-deberta", "model.head=pooler"])))


@pytest.mark.slow
def test_heads_by_design_bert_pooler_weights_decoder_no_bias():
    """pooler: the reward reads the backbone's own pooler (BERT's pretrained one in the packaged
    MiniLM; nothing added); nobias: the reward head has no bias; linear: as before."""
    import torch

    from rm_lab.models.heads import RewardModel
    from rm_lab.runner.build import build_backbone

    backbone = build_backbone(compose(["model=minilm-l6"]))
    pooled = RewardModel(backbone)
    plain = RewardModel(build_backbone(compose(["model=minilm-l6", "model.head=linear"])))
    sizes = [sum(p.numel() for p in m.parameters()) for m in (pooled, plain)]
    assert sizes[0] == sizes[1]  # BertModel holds its pooler either way
    from safetensors.torch import load_file

    from rm_lab.models.backbone import resolve_source

    stored = load_file(str(Path(resolve_source("packaged:minilm")[0]) / "model.safetensors"))
    assert torch.equal(pooled.encoder.model.pooler.dense.weight, stored["pooler.dense.weight"])
    tok = backbone.tokenizer()
    enc = tok(["a question"], ["an answer"], return_tensors="pt")
    pooled.eval()
    with torch.no_grad():
        out = pooled.encoder.model(**enc)
        by_hand = torch.tanh(pooled.encoder.model.pooler.dense(out.last_hidden_state[:, 0]))
        got = pooled.encoder(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    assert torch.allclose(got, by_hand, atol=1e-6) and not torch.allclose(got, out.last_hidden_state[:, 0])

    decoder = build_backbone(compose(TINY_LLAMA))
    assert decoder.head == "nobias" and RewardModel(decoder).head.linear.bias is None
    assert RewardModel(build_backbone(compose(["model=tiny-deberta"]))).head.linear.bias is not None


@pytest.mark.slow
@pytest.mark.parametrize("name, cls", [("bert", "BertForSequenceClassification"),
                                       ("bert_lora", "BertForSequenceClassification"),
                                       ("roberta", "RobertaForSequenceClassification")])
def test_bert_and_roberta_export_exactly_through_the_pooler_head(runs, name, cls, tmp_path):
    run_dir, out = runs(name), tmp_path / "export"
    assert export_main([str(run_dir), str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == [cls] and "auto_map" not in config
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["architecture"] == cls and manifest["check"]["max_abs_diff"] <= 1e-4
    assert ("LoRA adapters merged" in manifest["head"]) == (name == "bert_lora")
    got = _round_trip(run_dir, out, tmp_path)
    assert got["class"] == cls and got["max_length"] == 64


@pytest.mark.slow
def test_a_llama_decoder_with_chat_input_exports_exactly(runs, tmp_path):
    """Tiny Llama built from config, SmolLM2's tokenizer and chat template: the exported
    LlamaForSequenceClassification finds the last token through pad_token_id, which is not EOS
    (the token every chat input ends with), so batches score as the run does."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run_dir, out = runs("llama"), tmp_path / "export"
    assert export_main([str(run_dir), str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input_format"] == "chat" and manifest["check"]["max_abs_diff"] <= 1e-4
    tok = AutoTokenizer.from_pretrained(out)
    assert config["pad_token_id"] == tok.pad_token_id != tok.eos_token_id
    got = _round_trip(run_dir, out, tmp_path, chat=True)
    assert got["class"] == "LlamaForSequenceClassification" and got["pad_token_id"] == tok.pad_token_id
    assert "apply_chat_template" in (out / "README.md").read_text()

    # the same weights with pad_token_id = EOS (the usual choice) read the wrong token of chat inputs
    model = AutoModelForSequenceClassification.from_pretrained(out, pad_token_id=tok.eos_token_id).eval()
    texts = ["<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello there<|im_end|>",
             "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nNo<|im_end|>"]
    enc = tok(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    with torch.no_grad():
        wrong = model(**enc).logits[:, 0]
        model.config.pad_token_id = tok.pad_token_id
        right = model(**enc).logits[:, 0]
    assert not torch.allclose(wrong, right, atol=1e-4)


@pytest.mark.slow
def test_the_packaged_smollm2_maps_exactly_onto_llama_for_sequence_classification(tmp_path):
    """The pretrained GGUF decoder (de-quantized on load) with an untrained reward head: the
    export holds plain float weights (no GGUF quantization config) and gives its rewards."""
    import torch

    from rm_lab.data.render import encode
    from rm_lab.inference.export import (
        PROBES,
        exported_logits,
        exported_tokenizer,
        save_tokenizer,
        transformers_model,
    )
    from rm_lab.runner.build import build_backbone, build_method

    cfg = compose(["model=smollm2-135m", "model.max_length=64", "method=baseline"])
    backbone = build_backbone(cfg)
    module = build_method(cfg.method, backbone=backbone, domains=["hh_rlhf"], data=None).eval()
    tok = exported_tokenizer(backbone)
    model = transformers_model(module, tok)
    model.save_pretrained(tmp_path)
    save_tokenizer(tok, backbone, model, tmp_path)
    assert "quantization_config" not in json.loads((tmp_path / "config.json").read_text())
    expected = []
    with torch.no_grad():
        for prompt, response in PROBES:
            enc = encode(backbone.tokenizer(), prompt, response, "chat", backbone.max_length)
            expected.append(float(module.model(torch.tensor([enc["input_ids"]]), torch.tensor([enc["attention_mask"]]))))
    got = exported_logits(tmp_path, PROBES, "chat")  # one by one, then batched
    assert max(abs(a - b) for a, b in zip(got, expected * 2, strict=True)) <= 1e-4


@pytest.mark.slow
def test_a_run_saved_before_model_head_loads_with_the_linear_head(runs, tmp_path):
    """results.json of a BERT run whose config has no `head` key (saved before the option): its
    checkpoint loads with the linear head and scores as before; its transformers export is refused."""
    from rm_lab.inference.scorer import load_reward_model

    source = runs("bert_linear")
    pairs = _test_pairs(source)
    expected = load_reward_model(source, progress=False).score_pairs(pairs)
    run_dir = shutil.copytree(source, tmp_path / "old_run")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["config"]["model"].pop("head") == "linear"
    (run_dir / "results.json").write_text(json.dumps(results))
    scorer = load_reward_model(run_dir, progress=False)
    assert scorer.module.model.head.linear.bias is not None and not scorer.module.model.encoder.pooler
    got = scorer.score_pairs(pairs)
    assert [r for pair in got for r in pair] == pytest.approx([r for pair in expected for r in pair], abs=1e-6)
    assert export_main([str(run_dir), str(tmp_path / "out")]) == 2
    assert export_main([str(run_dir), str(tmp_path / "out"), "--format", "run"]) == 0


@pytest.mark.slow
def test_a_decoder_tokenizer_without_a_spare_pad_gets_one_added_in_the_export(tmp_path):
    """GPT-2's tokenizer has one special token (<|endoftext|>: BOS, EOS and its pad): the export adds
    `<|pad|>` and one embedding row, so batches still score at the last real token. A tiny GPT-2
    from config; its tokenizer is SmolLM2's with the pad set to EOS, as GPT-2's would be."""
    import torch

    from rm_lab.data.render import encode
    from rm_lab.inference.export import (
        PAD,
        PROBES,
        exported_logits,
        exported_tokenizer,
        save_tokenizer,
        transformers_model,
    )
    from rm_lab.models.heads import RewardModel
    from rm_lab.runner.build import build_backbone

    cfg = compose(["model=gpt2", "model.pretrained=false", "+model.tokenizer=packaged:smollm2", "model.max_length=64",
                   "model.architecture.vocab_size=49152", "model.architecture.n_embd=32",
                   "model.architecture.n_layer=2", "model.architecture.n_head=2", "model.architecture.n_positions=128"])
    backbone = build_backbone(cfg)
    run_tok = backbone.tokenizer()
    run_tok.pad_token = run_tok.eos_token  # no spare pad, as for GPT-2
    module = RewardModel(backbone).eval()
    torch.nn.init.normal_(module.head.linear.weight)
    tok = exported_tokenizer(backbone)
    assert tok.pad_token == PAD and len(tok) == len(run_tok) + 1
    model = transformers_model(SimpleNamespace(model=module), tok)  # what transformers_model reads of a method
    assert model.get_input_embeddings().num_embeddings == 49153 and model.config.pad_token_id == tok.pad_token_id
    model.save_pretrained(tmp_path)
    save_tokenizer(tok, backbone, model, tmp_path)
    expected = []
    with torch.no_grad():
        for prompt, response in PROBES:
            enc = encode(run_tok, prompt, response, "pair", backbone.max_length)
            expected.append(float(module(torch.tensor([enc["input_ids"]]), torch.tensor([enc["attention_mask"]]))))
    got = exported_logits(tmp_path, PROBES, "pair")  # one by one, then batched (padded with <|pad|>)
    assert max(abs(a - b) for a, b in zip(got, expected * 2, strict=True)) <= 1e-4
    assert len({round(x, 4) for x in expected}) > 1
