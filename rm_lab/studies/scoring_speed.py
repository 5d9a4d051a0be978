"""Scoring speed against the loop a user writes with plain transformers on the run's export.

    python -m rm_lab.bench                  # prints these figures under "scoring" (make bench)

The run is exported (`python -m rm_lab.export RUN_DIR OUT --format transformers`), then the same
inputs (each test pair's prompt with its chosen and its rejected response) are scored four ways,
each in fp32 on the CPU with the same threads, in turn, `rounds` times (the best time of each is
kept, so one slow moment of a shared machine does not decide):
  plain_file_order     AutoModelForSequenceClassification + AutoTokenizer on the export, batches
                       of 32 inputs in file order, `tok(prompts, responses, truncation=True,
                       padding=True)`, `model(**batch).logits[:, 0]` under torch.inference_mode
  plain_sorted         the same loop over the inputs sorted by token length (tokenized once,
                       padded per batch)
  rm_lab_score         `rm_lab.load_reward_model(RUN_DIR).score_pairs(rows)` (`python -m rm_lab.score`)
  reward_function      `rm_lab.reward_function(RUN_DIR)(prompts, completions)` (TRL's reward_funcs)
Each reports inputs/s (loading the model excluded, tokenizing included) and the largest reward
difference from the plain loop's (`max_abs_diff`; the bench requires the same rewards).
`plain_file_order` also reports `padded_work`: its batches' FLOPs (every text padded to its
batch's longest) over the FLOPs of the real tokens alone (`rm_lab.eval.params`), the speed ratio
its padding alone leaves to a scorer that computes no padding, at equal FLOP rates.
Given the machine's fp32 matmul peak (the bench passes the one it measured), each way also
reports `percent_of_peak`: the model's forward FLOPs on the real tokens per second over that peak,
the training figure's definition (`rm_lab.eval.params`; work a scorer skips still counts), so that
what a ratio to the plain loop would ask of the machine can be read off.
"""
from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from rm_lab.eval.params import linear_params, padded_lengths, training_flops

PLAIN_BATCH = 32


def plain_rewards(model, tok, prompts: list[str], responses: list[str], by_length: bool,
                  batch_size: int = PLAIN_BATCH) -> list[float]:
    """The plain loop (module doc): rewards of the export's model with its tokenizer, in input order."""
    out = [0.0] * len(prompts)
    with torch.inference_mode():
        if not by_length:
            for start in range(0, len(prompts), batch_size):
                batch = tok(prompts[start:start + batch_size], responses[start:start + batch_size], truncation=True,
                            padding=True, return_tensors="pt")
                out[start:start + batch_size] = model(**batch).logits[:, 0].tolist()
            return out
        enc = tok(prompts, responses, truncation=True)
        order = sorted(range(len(prompts)), key=lambda i: -len(enc["input_ids"][i]))
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = tok.pad({k: [enc[k][i] for i in index] for k in enc}, return_tensors="pt")
            for i, reward in zip(index, model(**batch).logits[:, 0].tolist()):
                out[i] = reward
    return out


def run_test_pairs(run_dir: str | Path) -> list[dict]:
    """The run's test pairs {prompt, chosen, rejected, ...}, from its datamodule rebuilt from the stored config."""
    import json

    from rm_lab.rundir.finished import run_config
    from rm_lab.rundir.layout import RunDir
    from rm_lab.runner.build import build_data

    path = RunDir(Path(run_dir)).results
    data, _ = build_data(run_config(json.loads(path.read_text()), path))
    return [p.to_dict() for p in data.pairs["test"]]


def scoring_speed(run_dir: str | Path, pairs: list[dict], rounds: int = 2, peak_gflops: float | None = None) -> dict:
    """The four ways of the module doc on `pairs` ({prompt, chosen, rejected}): inputs/s each,
    their ratios to the plain loops, each one's largest reward difference from plain_file_order,
    and, given `peak_gflops` (fp32), each one's percent_of_peak."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rm_lab.inference.export import export
    from rm_lab.inference.reward_function import reward_function
    from rm_lab.inference.scorer import load_reward_model

    folder = export(run_dir, Path(tempfile.mkdtemp(prefix="rm_lab_bench_export_")) / "export", "transformers")
    prompts = [p["prompt"] for p in pairs for _ in (0, 1)]
    responses = [p[side] for p in pairs for side in ("chosen", "rejected")]
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    scorer = load_reward_model(run_dir, device="cpu", progress=False)
    scorer.set_precision("fp32")
    reward = reward_function(run_dir, device="cpu")
    ways = {
        "plain_file_order": lambda: plain_rewards(model, tok, prompts, responses, by_length=False),
        "plain_sorted": lambda: plain_rewards(model, tok, prompts, responses, by_length=True),
        "rm_lab_score": lambda: [r for pair in scorer.score_pairs(pairs) for r in pair],
        "reward_function": lambda: reward(prompts=prompts, completions=responses),
    }
    seconds = {name: float("inf") for name in ways}
    rewards: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, way in ways.items():
            start = time.perf_counter()
            rewards[name] = way()
            seconds[name] = min(seconds[name], time.perf_counter() - start)
    lengths = [len(ids) for ids in tok(prompts, responses, truncation=True)["input_ids"]]
    padded = padded_lengths(lengths, PLAIN_BATCH)
    work = partial(training_flops, linear=linear_params(model), layers=model.config.num_hidden_layers,
                   hidden=model.config.hidden_size)
    reference = rewards["plain_file_order"]
    out = {name: {"inputs_per_s": len(prompts) / seconds[name],
                  "max_abs_diff": max(abs(a - b) for a, b in zip(rewards[name], reference))} for name in ways}
    out["plain_file_order"].update(real_tokens=sum(lengths), padded_tokens=sum(padded),
                                   padded_work=work(padded) / work(lengths))
    forward_flops = work(lengths) / 3  # training_flops counts forward + backward: 3 forwards
    if peak_gflops:
        for name in ways:
            out[name]["percent_of_peak"] = 100 * forward_flops / seconds[name] / 1e9 / peak_gflops
    for name in ("rm_lab_score", "reward_function"):
        out[name]["x_plain_file_order"] = out[name]["inputs_per_s"] / out["plain_file_order"]["inputs_per_s"]
        out[name]["x_plain_sorted"] = out[name]["inputs_per_s"] / out["plain_sorted"]["inputs_per_s"]
    return {"inputs": len(prompts), "plain_batch": PLAIN_BATCH, "rounds": rounds, "export": str(folder),
            "forward_gflops": forward_flops / 1e9, "peak_gflops": peak_gflops, **out}
