"""The memory plan's arithmetic against a hand computation (no GPU to measure against here)."""
from __future__ import annotations

import pytest

from rm_lab.cli.plan import plan
from rm_lab.core.sizes import parse_bytes
from rm_lab.runner.memory import activation_bytes


def test_plan_of_the_tiny_model_matches_a_hand_computation():
    p = plan(["model=tiny-deberta", "dataset.batch_size=4", "model.max_length=64"])
    total, trainable = p["params"], p["trainable"]
    assert total == trainable > 0
    assert p["bytes"]["weights"] == 4 * total and p["bytes"]["gradients"] == 4 * trainable
    assert p["bytes"]["optimizer"] == 8 * trainable  # AdamW's two fp32 moments
    s, b, h, a, layers = 64, 8, 32, 2, 2  # tiny-deberta: 2 layers, hidden 32, 2 heads; 2 x 4 texts
    assert p["bytes"]["activations"] == pytest.approx(layers * s * b * h * (34 + 5 * a * s / h) * 2)  # fp32
    assert p["total_bytes"] == pytest.approx(sum(p["bytes"].values()))


def test_lora_trains_a_fraction_and_checkpointing_keeps_layer_inputs_only():
    full = plan(["model=tiny-deberta"])
    lora = plan(["model=tiny-deberta", "method=base_lora"])
    assert lora["trainable"] < full["trainable"] and lora["bytes"]["optimizer"] == 8 * lora["trainable"]
    plain = activation_bytes(10, 64, 4, 8, 128, half=True, checkpointing=False)
    kept = activation_bytes(10, 64, 4, 8, 128, half=True, checkpointing=True)
    one_layer = 128 * 8 * 64 * (34 + 5 * 4 * 128 / 64)
    assert plain == pytest.approx(10 * one_layer)
    assert kept == pytest.approx(10 * 2 * 128 * 8 * 64 + one_layer)


def test_a_9b_backbone_fully_fine_tuned_with_adamw_does_not_fit_one_80gb_device():
    p = plan(["model=gemma-2-9b-it", "trainer.precision=32-true"], device_memory="80GB")
    assert 9.0e9 < p["params"] < 9.5e9
    before_activations = p["bytes"]["weights"] + p["bytes"]["gradients"] + p["bytes"]["optimizer"]
    assert before_activations == pytest.approx(16 * p["params"])  # about 148 GB
    assert not p["fits"] and p["device_bytes"] == 80e9


def test_device_memory_units():
    assert parse_bytes("80GB") == 80e9 and parse_bytes("24GiB") == 24 * 2**30
    assert parse_bytes("80G") == 80 * 2**30 and parse_bytes("512m") == 512 * 2**20  # as SLURM's --mem reads them
    for text in ("lots", "80 gigs", "1.2.3GB", "."):
        with pytest.raises(ValueError, match="give a number and a unit"):
            parse_bytes(text)
    with pytest.raises(ValueError, match="80GB"):
        parse_bytes("lots")


def test_a_wrong_option_or_value_exits_2_with_one_line_before_torch_loads(tmp_path):
    import subprocess
    import sys

    probe = ("import sys\nfrom rm_lab.cli.plan import main\n"
             "for args in (['method=nope'], ['dataset.batch_size=abc'], ['method.lr=-1']):\n"
             "    try:\n        main(args)\n    except SystemExit as stop:\n        print('exit', stop.code)\n"
             "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.stdout.split() == ["exit", "2", "exit", "2", "exit", "2", "False"], proc.stdout + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    said = [line for line in proc.stderr.splitlines() if line.startswith("python -m rm_lab.plan: ")]
    assert [line.split(": ", 1)[1] for line in said] == [
        "In 'config': Could not find 'method/nope'", "dataset.batch_size must be an integer >= 1, got 'abc'",
        "method.lr must be a finite number > 0, got -1"]


def test_device_memory_without_a_unit_exits_2_with_its_message(capsys):
    from rm_lab.cli.plan import main

    with pytest.raises(SystemExit) as stop:
        main(["model=tiny-deberta", "--device-memory", "80 gigs"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("python -m rm_lab.plan: error: argument --device-memory: device memory '80 gigs': give a number "
                       "and a unit, e.g. 80GB (10^9 bytes), 24GiB or 24G (2^30 bytes, as SLURM's --mem)")


def test_the_plan_says_what_the_run_would_refuse_and_exits_2(capsys, tmp_path):
    from rm_lab.cli.plan import main

    missing = tmp_path / "nope.jsonl"
    with pytest.raises(SystemExit) as stop:
        main(["model=tiny-deberta", "dataset=hh_rlhf", f"dataset.domains.hh_rlhf.path={missing}"])
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert "| **total** |" in out  # the plan is still printed whole
    assert err.startswith("python -m rm_lab.plan: the run would not start: cannot start baseline on tiny-deberta")
    assert f"  - data hh_rlhf: {missing} does not exist" in err.splitlines()


def test_what_only_this_machine_lacks_is_a_note_not_a_refusal(capsys, monkeypatch):
    import torch

    from rm_lab.cli.plan import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a login node without a GPU
    result = main(["model=tiny-deberta", "trainer=gpu"])  # a GPU run planned there: no SystemExit
    assert result["params"] > 0
    err = capsys.readouterr().err
    assert err.startswith("note: on this machine, cannot start baseline on tiny-deberta") and "needs a GPU" in err
