"""Exporting a trained run: python -m rm_lab.export RUN_DIR OUT_DIR [--format] [--push-to-hub]."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rm_lab.config import compose
from rm_lab.export import main as export_main
from rm_lab.export import transformers_refusal

TINY = ["model=tiny-deberta", "dataset.max_pairs.train=24", "dataset.max_pairs.validation=8",
        "dataset.max_pairs.test=12", "dataset.batch_size=8", "logger=csv"]
SMALL = ["dataset.max_pairs.train=8", "dataset.max_pairs.test=6", "dataset.batch_size=4"]

# loads the export with transformers alone (rm_lab is never imported) and prints each pair's two logits
TRANSFORMERS_ONLY = r"""
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

folder, pairs = sys.argv[1], json.load(open(sys.argv[2]))
model = AutoModelForSequenceClassification.from_pretrained(folder).float().eval()
tok = AutoTokenizer.from_pretrained(folder)
assert model.config.num_labels == 1 and tok.truncation_side == "left", (model.config.num_labels, tok.truncation_side)
out = []
with torch.no_grad():
    for pair in pairs:
        row = []
        for response in (pair["chosen"], pair["rejected"]):
            enc = tok(pair["prompt"], response, truncation=True, max_length=tok.model_max_length, return_tensors="pt")
            row.append(float(model(**enc).logits[0, 0]))
        out.append(row)
assert "rm_lab" not in sys.modules
print(json.dumps({"logits": out, "max_length": tok.model_max_length, "class": type(model).__name__}))
"""


def _train(root: Path, *overrides: str) -> Path:
    from rm_lab.train import run

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
                 "rodos": ["method=rodos", *SMALL]}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = _train(tmp_path_factory.mktemp(name), *overrides[name])
        return made[name]

    return get


def _test_pairs(run_dir: Path) -> list[dict]:
    from rm_lab.build import build_data

    results = json.loads((run_dir / "results.json").read_text())
    datamodule, _ = build_data(OmegaConf.create(results["config"]))
    return [p.to_dict() for p in datamodule.pairs["test"]]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["baseline", "base_lora"])
def test_baseline_and_base_lora_load_with_plain_transformers(runs, method, tmp_path):
    from rm_lab.scoring import load_reward_model

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

    pairs = _test_pairs(run_dir)
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", TRANSFORMERS_ONLY, str(out), str(tmp_path / "pairs.json")],
                          check=False, capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["class"] == "DebertaV2ForSequenceClassification" and got["max_length"] == 64

    expected = load_reward_model(run_dir, progress=False).score_pairs(pairs)
    diff = max(abs(a - b) for row, ref in zip(got["logits"], expected, strict=True) for a, b in zip(row, ref))
    assert diff <= 1e-4, diff

    card = (out / "README.md").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["labels"]["method"] in card and "tiny-deberta" in card and "Seed: 0" in card
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

    pairs = _test_pairs(source)
    expected = rm_lab.load_reward_model(run_dir, progress=False).score_pairs(pairs)
    shutil.rmtree(run_dir)
    got = rm_lab.load_reward_model(out, progress=False).score_pairs(pairs)
    assert [r for pair in got for r in pair] == pytest.approx([r for pair in expected for r in pair], abs=1e-6)


@pytest.mark.slow
def test_a_transformers_export_is_not_a_run_folder(runs, tmp_path):
    from rm_lab.scoring import ModelLoadError, load_reward_model

    out = tmp_path / "export"
    assert export_main([str(runs("baseline")), str(out)]) == 0
    with pytest.raises(ModelLoadError, match="transformers export"):
        load_reward_model(out)


def test_push_to_hub_fails_fast_and_writes_nothing(tmp_path, write_run, monkeypatch, capsys):
    from rm_lab.hub import hub_reachable

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


@pytest.mark.parametrize("model, model_type, reason", [
    ("minilm-l6", "bert", "tanh"), ("bert-base", "bert", "tanh"), ("gpt2", "gpt2", "bias"),
    ("qwen2.5-0.5b-instruct", "qwen2", "bias"), ("tiny-deberta", "deberta-v2", None),
    ("deberta-v3-base", "deberta-v2", None)])
def test_which_backbones_export_to_transformers(model, model_type, reason):
    cfg = compose(["method=baseline", f"model={model}"])
    why = transformers_refusal(cfg, model_type)
    if reason is None:
        assert why is None
    else:
        assert reason in why and "deberta-v3" in why  # the reason and the backbones that do export
    assert "not one reward model" in transformers_refusal(compose(["method=more", f"model={model}"]), model_type)
    pooled = compose(["method=baseline", "model=tiny-deberta", "model.pooling=mean"])
    assert "first token" in transformers_refusal(pooled, "deberta-v2")


def test_a_bert_baseline_is_refused_with_the_reason(tmp_path, make_cfg, write_run, capsys):
    cfg = make_cfg("method=baseline", "model=minilm-l6")
    run_dir = tmp_path / "minilm_run"
    write_run(run_dir / "results.json", method="baseline", model="minilm-l6",
              config=OmegaConf.to_container(cfg, resolve=True))
    assert export_main([str(run_dir), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model_type bert" in err and "tanh" in err and "deberta-v3" in err and "--format run" in err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
