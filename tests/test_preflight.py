"""The typed command is the paper's experiment (the recipe), and every run says its plan first.

Compose-level: `method=M model=deberta-v3-base` composes what `experiment=paper_M` does (its data and
recipe), the offline default keeps its values. The plan (rm_lab/runner/preflight.py) from a config
alone, with the hub's state given, and the typed 5-seed sweep offline in a subprocess: one message,
no traceback, a few seconds.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rm_lab.core.config import compose
from rm_lab.runner.preflight import CannotStart, Hub, preflight, remember_counts

PAPER_METHODS = ("baseline", "base_lora", "more", "rodos", "arliss")
NO_HUB = Hub(probe=lambda: False)


def _node(cfg, key: str) -> dict:
    return OmegaConf.to_container(cfg[key], resolve=True)


@pytest.mark.parametrize("method", PAPER_METHODS)
def test_the_typed_command_composes_the_paper_experiment(method):
    typed = compose([f"method={method}", "model=deberta-v3-base"])
    named = compose([f"experiment=paper_{method}"])
    for key in ("dataset", "model", "method"):
        assert _node(typed, key) == _node(named, key), key
    assert typed.trainer.max_epochs == named.trainer.max_epochs == 3
    assert (typed.method.lr, typed.dataset.batch_size, typed.model.max_length) == (5e-6, 32, 512)
    assert typed.dataset.name == "five_domains_paper" and typed.model.disable_dropout is False
    assert named.trainer.accelerator == "gpu"  # the named experiment also picks the machine


def test_the_recipe_follows_the_backbone_and_yields_to_the_command_line():
    assert compose(["method=rodos", "model=deberta-v3-large"]).dataset.batch_size == 8
    for model in ("deberta-v3-xsmall", "bert-small", "roberta-base", "gpt2"):
        cfg = compose([f"model={model}"])
        assert (cfg.dataset.name, cfg.method.lr, cfg.model.max_length) == ("five_domains_paper", 5e-6, 512), model
    assert compose(["method=arliss", "model=deberta-v3-small"]).method.merge_at_inference is False
    assert compose(["model=deberta-v3-base", "method.lr=1e-5"]).method.lr == 1e-5
    other_data = compose(["model=deberta-v3-base", "dataset=five_domains_sample"])  # no recipe: the groups' values
    assert (other_data.method.lr, other_data.trainer.max_epochs, other_data.model.disable_dropout) == (6e-5, 1, True)
    tables = compose(["experiment=tables_offline", "model=deberta-v3-xsmall", "method=rodos"])
    assert (tables.dataset.name, tables.method.lr, tables.trainer.max_epochs) == ("five_domains_sample", 1e-4, 1)


def test_the_offline_default_keeps_its_values():
    cfg = compose([])
    assert (cfg.dataset.name, cfg.model.name, cfg.method.name) == ("five_domains_sample", "minilm-l6", "baseline")
    assert (cfg.method.lr, cfg.trainer.max_epochs, cfg.dataset.batch_size, cfg.model.max_length) == (6e-5, 1, 16, 128)
    assert cfg.model.disable_dropout is True and "paper_batch_size" not in cfg


def test_the_offline_default_says_its_plan(tmp_path):
    said = preflight(compose([f"dataset.cache_dir={tmp_path}"]), NO_HUB)  # no counts from earlier runs
    text = said.text()
    assert text.startswith("plan: baseline on minilm-l6, dataset five_domains_sample, seed 0\n")
    assert "backbone: packaged minilm" in text
    assert "hh_rlhf    bundled sample (2 files), pairs train/validation/test at most 1,500/100/200" in text
    assert "hellaswag  bundled sample hellaswag_val_sample800.jsonl, all pairs" in text
    assert "shp        absent: no offline sample is bundled" in text
    assert "recipe: none (the groups' own values): lr 6e-05, 1 epoch, batch 16, max length 128, no dropout" in text
    assert any(line.startswith("memory: about") and "fits" in line and "NOT" not in line for line in said.lines)
    assert len(said.lines) <= 9
    said.check()  # it can start


def test_the_typed_command_offline_cannot_start_and_says_what_to_do(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # nothing cached
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    said = preflight(compose(["method=rodos", "model=deberta-v3-base"]), NO_HUB)
    assert "recipe: five_domains_paper_rodos: lr 5e-06, 3 epochs, batch 32, max length 512" in said.text()
    assert "backbone: hub microsoft/deberta-v3-base (unreachable, not cached)" in said.text()
    with pytest.raises(CannotStart) as err:
        said.check()
    message = str(err.value)
    assert message.count("cannot start") == 1 and "HF_HUB_OFFLINE=1" in message
    assert "the model microsoft/deberta-v3-base" in message and "oasst (OpenAssistant/oasst2)" in message
    assert "dataset=five_domains_sample" in message and "model=minilm-l6" in message


def test_the_plan_says_the_counts_a_run_found_with_the_same_sources_and_caps(tmp_path):
    cfg = compose([f"dataset.cache_dir={tmp_path}"])
    remember_counts(cfg.dataset, {"hellaswag": {"absent": None, "pairs": {"train": 568, "validation": 74, "test": 158}},
                                  "shp": {"absent": "no sample", "pairs": {"train": 0, "validation": 0, "test": 0}}})
    text = preflight(cfg, NO_HUB).text()
    assert "hellaswag  bundled sample hellaswag_val_sample800.jsonl, pairs train/validation/test 568/74/158 " \
           "(as last read)" in text
    assert "hh_rlhf    bundled sample (2 files), pairs train/validation/test at most 1,500/100/200" in text
    other_caps = preflight(compose([f"dataset.cache_dir={tmp_path}", "dataset.max_pairs.test=10"]), NO_HUB).text()
    assert "568/74/158" not in other_caps and "at most all/all/10" in other_caps


def test_a_missing_local_file_stops_the_plan_naming_it(tmp_path):
    said = preflight(compose(["dataset=hh_rlhf", f"dataset.domains.hh_rlhf.path={tmp_path}/nope.jsonl"]), NO_HUB)
    with pytest.raises(CannotStart, match="nope.jsonl does not exist"):
        said.check()


def test_bf16_on_a_cpu_without_bf16_instructions_is_said_in_the_plan():
    from rm_lab.runner.preflight import precision_text

    bf16 = compose(["trainer.precision=bf16-mixed"])
    line = precision_text(bf16, native=lambda: False)
    assert "no bf16 matrix instructions" in line and "trainer.precision=32-true" in line
    assert precision_text(bf16, native=lambda: True) is None  # AVX512-BF16 or AMX: no warning
    assert precision_text(compose([]), native=lambda: False) is None  # fp32: nothing to say
    gpu = compose(["trainer.precision=bf16-mixed", "trainer.accelerator=gpu"])
    assert precision_text(gpu, native=lambda: False) is None  # not the CPU's products


@pytest.mark.slow
def test_the_typed_sweep_offline_stops_at_once_with_one_message(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9",
           "RM_LAB_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HF_DATASETS_CACHE"):
        env.pop(flag, None)
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rm_lab", "method=rodos", "model=deberta-v3-base", "-m",
                           "seed=0,1,2,3,4"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert out.count("cannot start") == 1 and out.count("plan: rodos on deberta-v3-base") == 1
    assert "Traceback" not in out and "uses packaged:minilm" not in out  # no traceback, no wrong warning
    assert "domain hh_rlhf" not in out and "| part |" not in out  # no data read, no memory table
    # at once: the first job stops before reading data or building a model, and no other job runs
    # (its seconds depend on the machine: said on failure, not held to a bound)
    assert len(list(tmp_path.rglob("results.json"))) == 1, f"{cpu:.1f} s of CPU ({wall:.1f} s wall)"
