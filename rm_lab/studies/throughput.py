"""Throughput benchmark: `python -m rm_lab.bench [--out FILE] [overrides...]` (`make bench`).

    python -m rm_lab.bench                                   # Baseline, packaged MiniLM, HH pairs, fp32 and bf16
    python -m rm_lab.bench --pairs 600 --test-pairs 200 --out bench.json
    python -m rm_lab.bench --precisions fp32 --no-scoring    # one training run, no scoring figures
    python -m rm_lab.bench dataset.group_by_length=false model.disable_dropout=false   # a lever off

Trains and tests one real run per precision (`--precisions`, default fp32 then bf16-mixed autocast)
through the runner (the same code as `python -m rm_lab`), then scores the first run's test pairs
through `rm_lab.load_reward_model` (the code of `python -m rm_lab.score`), and reports, for the
first precision at the top level and for each other one under its name:
  pairs_per_s             training pairs per second (the runner's figure: validation left out)
  real_tokens_per_s       non-padding tokens per second of training
  padded_tokens_per_s     every token of the training batches (padding included) per second
  padding_share           padding / all tokens of the training batches (same seed, same batches)
  matmul_peak_gflops      the machine's measured matrix-multiply rate in that precision's dtype
                          (torch.mm, n=1024: fp32, or bf16 where the CPU has AMX/AVX512-BF16), the
                          better of two measurements (matmul_peak_samples), before and after the run
  percent_of_peak         model FLOPs on real tokens per second / that peak: 6 x (linear
                          parameters) per token for the forward and backward passes, plus
                          12 x layers x hidden x length for attention scores (Kaplan et al. 2020);
                          work the code skips (BERT's last layer beyond the first token) still counts
  padded_batch_tokens     the tokens a trainer computes that pads random batches of the same pairs
                          to their longest text, as TRL's RewardTrainer does (its collator pads a
                          batch's chosen and rejected texts together)
  padded_batch_work       that trainer's FLOPs (same formula) / the FLOPs on real tokens: the speed
                          ratio such a trainer's padding alone gives rm_lab at equal FLOP rates
  test_inputs_per_s       texts scored per second by the test loop (batched)
  score_inputs_per_s      texts scored per second by the scoring code (length-sorted batches)
  score_bf16 / score_int8 the same under `--precision bf16` and `--precision int8` (CPU):
                          inputs_per_s, agreement (share of pairs whose winner is fp32's),
                          max_abs_diff (the largest reward change) and accuracy on the test pairs;
                          score_accuracy and score_median_margin are fp32's, to compare against
  scoring                 rm_lab.score and reward_function against the plain transformers loop on
                          the run's export (`rm_lab/studies/scoring_speed.py`), added by the command
  test_accuracy           the run's test accuracy (a faster setting must not learn worse)
It prints one JSON object, then table lines. Defaults match the side-by-side comparison with
TRL's RewardTrainer (max length 256, batch 16, lr 5e-5, one epoch). Timings drift on a
shared machine: compare settings in one sitting, and prefer ratios.
"""
from __future__ import annotations

import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import OmegaConf

from rm_lab.core.config import compose
from rm_lab.eval.params import linear_params, padded_lengths, training_flops
from rm_lab.models.heads import RewardModel

DEFAULTS = ["dataset=hh_rlhf_sample", "model=minilm-l6", "model.max_length=256", "dataset.batch_size=16",
            "method.lr=5e-5", "logger=none", "checkpoint.last=false"]


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}  # the bench's names -> trainer.precision


def matmul_peak(seconds: float = 2.0, n: int = 1024, dtype: torch.dtype = torch.float32) -> float:
    """Measured torch.mm rate in GFLOP/s in `dtype` (best of repeated timings of n x n products)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - start))
    return best / 1e9


def batch_tokens(data, seed: int) -> dict:
    """Real and padded tokens of the run's training batches (the loader replayed with its seed),
    each text's real length, and each pair's (chosen, rejected) lengths."""
    torch.manual_seed(seed)
    real = padded = 0
    lengths: list[int] = []
    pairs: list[tuple[int, int]] = []
    for batch in data.train_dataloader():
        mask = batch["attention_mask"]
        real += int(mask.sum())
        padded += mask.numel()
        texts = mask.sum(1).tolist()
        lengths += texts
        half = len(texts) // 2  # chosen rows, then rejected rows (rm_lab.data.batch)
        pairs += list(zip(texts[:half], texts[half:]))
    return {"real": real, "padded": padded, "lengths": lengths, "pairs": pairs}


def padded_batch_lengths(pairs: list[tuple[int, int]], batch_size: int, seed: int) -> list[int]:
    """The lengths a trainer computes that pads each batch's texts to its longest, as TRL's
    RewardTrainer does (`DataCollatorForPreference`: a batch's chosen and rejected texts padded
    together), on batches of `batch_size` pairs drawn in a seeded random order."""
    order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed)).tolist()
    return padded_lengths([n for i in order for n in pairs[i]], 2 * batch_size)


def bench(overrides: list[str], pairs: int = 600, test_pairs: int = 200, out_dir: str | None = None,
          peak_seconds: float = 2.0, precisions: tuple[str, ...] = ("fp32", "bf16"), scoring: bool = True) -> dict:
    """One training run per precision (the first one's figures at the top level, the others under
    their names), then the first run's scoring figures."""
    from rm_lab.inference.scorer import load_reward_model

    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown or not precisions:
        raise ValueError(f"unknown precisions {unknown}; valid: {', '.join(PRECISIONS)}")
    root = Path(out_dir or tempfile.mkdtemp(prefix="rm_lab_bench_"))
    runs = {precision: train_figures(overrides, pairs, test_pairs, root / precision, precision,
                                     functools.partial(matmul_peak, peak_seconds, dtype=DTYPES[precision]))
            for precision in precisions}
    first, *others = precisions
    result = {**runs[first], **{precision: runs[precision] for precision in others}}
    test = runs[first].pop("_test")
    for precision in others:
        runs[precision].pop("_test")
    if not (scoring and test):
        return result
    run_dir = result["run_dir"]
    scorer = load_reward_model(run_dir, device="cpu")
    scorer.progress = False
    start = time.perf_counter()
    fp32 = scorer.score_pairs(test)
    score_s = time.perf_counter() - start
    lower = {precision: score_precision(run_dir, test, fp32, precision) for precision in ("bf16", "int8")}
    return {**result, "score_inputs_per_s": 2 * len(test) / score_s, "score_accuracy": pair_accuracy(fp32),
            "score_median_margin": statistics.median(abs(c - r) for c, r in fp32),
            **{f"score_{precision}": figures for precision, figures in lower.items()}}


def train_figures(overrides: list[str], pairs: int, test_pairs: int, out_dir: Path, precision: str,
                  measure_peak: Callable[[], float]) -> dict:
    """One training run at `precision` through the runner, and its throughput figures; the matmul
    peak is the better of two measurements, before and after the run (on a shared host one window
    can come out at a third of the machine's rate)."""
    from rm_lab.runner.build import build_data
    from rm_lab.runner.run import run

    cfg = compose([*DEFAULTS, f"dataset.max_pairs.train={pairs}", f"dataset.max_pairs.test={test_pairs}",
                   "dataset.max_pairs.validation=32", f"trainer.precision={PRECISIONS[precision]}", *overrides])
    cfg.paths.output_dir = str(out_dir / "run")
    OmegaConf.resolve(cfg)
    peaks = [measure_peak()]
    results = run(cfg)
    peaks.append(measure_peak())
    peak = max(peaks)
    train_s = sum(results["train_time"]["per_epoch_s"])
    data, backbone = build_data(cfg)
    tokens = batch_tokens(data, int(cfg.seed))
    config = backbone.config()
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 0)
    module = RewardModel(backbone)
    flops = training_flops(tokens["lengths"], linear_params(module), layers, backbone.hidden_size)
    padded = padded_batch_lengths(tokens["pairs"], int(cfg.dataset.batch_size), int(cfg.seed))
    padded_flops = training_flops(padded, linear_params(module), layers, backbone.hidden_size)
    batched = (results.get("inference") or {}).get("batched") or {}
    epochs = len(results["train_time"]["per_epoch_s"]) or 1
    return {
        "method": cfg.method.name, "model": cfg.model.name, "precision": precision,
        "max_length": int(cfg.model.max_length), "batch_size": int(cfg.dataset.batch_size),
        "train_pairs": data.num_pairs("train"), "test_pairs": data.num_pairs("test"),
        "threads": torch.get_num_threads(), "overrides": list(overrides),
        "train_s": train_s, "pairs_per_s": results["train_time"]["pairs_per_s"],
        "real_tokens_per_s": tokens["real"] * epochs / train_s, "padded_tokens_per_s": tokens["padded"] * epochs / train_s,
        "padding_share": 1 - tokens["real"] / tokens["padded"], "matmul_peak_gflops": peak,
        "matmul_peak_samples": peaks,
        "train_gflops_per_s": flops * epochs / train_s / 1e9,
        "percent_of_peak": 100 * flops * epochs / train_s / 1e9 / peak,
        "padded_batch_tokens": sum(padded), "padded_batch_work": padded_flops / flops,
        "test_inputs_per_s": 1 / batched["seconds_per_input"] if batched.get("seconds_per_input") else None,
        "test_accuracy": (results.get("accuracy") or {}).get("average"), "run_dir": cfg.paths.output_dir,
        "_test": [p.to_dict() for p in data.pairs["test"]],
    }


def score_precision(run_dir: str, pairs: list[dict], fp32: list[tuple[float, float]], precision: str) -> dict:
    """Scoring throughput of the run at a lower precision, and how far its rewards are from fp32's."""
    from rm_lab.inference.scorer import load_reward_model

    scorer = load_reward_model(run_dir, device="cpu", progress=False)
    scorer.set_precision(precision)
    start = time.perf_counter()
    rewards = scorer.score_pairs(pairs)
    seconds = time.perf_counter() - start
    same = sum((c > r) == (c0 > r0) for (c, r), (c0, r0) in zip(rewards, fp32))
    diff = max(abs(a - b) for pair, ref in zip(rewards, fp32) for a, b in zip(pair, ref))
    return {"inputs_per_s": 2 * len(pairs) / seconds, "agreement": same / len(pairs), "max_abs_diff": diff,
            "accuracy": pair_accuracy(rewards)}


def pair_accuracy(rewards: list[tuple[float, float]]) -> float:
    """Share of pairs whose chosen text gets the higher reward."""
    return sum(c > r for c, r in rewards) / len(rewards)


def table_line(r: dict) -> str:
    line = (f"| {r['method']} | {r['model']} | {r['train_pairs']} pairs | {r['pairs_per_s']:.2f} pairs/s | "
            f"{r['real_tokens_per_s']:,.0f} real tok/s | {r['padded_tokens_per_s']:,.0f} padded tok/s | "
            f"padding {100 * r['padding_share']:.0f}% | {r['percent_of_peak']:.0f}% of {r['matmul_peak_gflops']:.0f} "
            f"GFLOP/s | padded random batches {r['padded_batch_work']:.2f}x the work | "
            f"test {r['test_inputs_per_s'] or 0:.1f} inputs/s | score {r.get('score_inputs_per_s') or 0:.1f} "
            f"inputs/s | bf16 {(r.get('score_bf16') or {}).get('inputs_per_s', 0):.1f} | "
            f"int8 {(r.get('score_int8') or {}).get('inputs_per_s', 0):.1f} inputs/s | "
            f"accuracy {r['test_accuracy'] if r['test_accuracy'] is not None else float('nan'):.3f} |")
    for precision in PRECISIONS:
        other = r.get(precision)
        if isinstance(other, dict) and "pairs_per_s" in other:
            line += (f"\n| {precision} training | {other['pairs_per_s']:.2f} pairs/s | {other['percent_of_peak']:.0f}% "
                     f"of {other['matmul_peak_gflops']:.0f} GFLOP/s ({precision} matmul peak) | "
                     f"accuracy {other['test_accuracy'] if other['test_accuracy'] is not None else float('nan'):.3f} |")
    scoring = r.get("scoring")
    if scoring:
        def peak(way: str) -> str:  # the share of the fp32 peak, where the bench measured it
            share = scoring[way].get("percent_of_peak")
            return "" if share is None else f", {share:.0f}% of peak"
        line += (f"\n| scoring {scoring['inputs']} inputs, fp32 | plain transformers, batch {scoring['plain_batch']}: "
                 f"file order {scoring['plain_file_order']['inputs_per_s']:.1f} (padded to "
                 f"{scoring['plain_file_order'].get('padded_work', float('nan')):.2f}x the work{peak('plain_file_order')}), "
                 f"sorted by length {scoring['plain_sorted']['inputs_per_s']:.1f} inputs/s{peak('plain_sorted')} | "
                 f"rm_lab.score {scoring['rm_lab_score']['inputs_per_s']:.1f} "
                 f"({scoring['rm_lab_score']['x_plain_file_order']:.2f}x, "
                 f"{scoring['rm_lab_score']['x_plain_sorted']:.2f}x{peak('rm_lab_score')}) | reward_function "
                 f"{scoring['reward_function']['inputs_per_s']:.1f} ({scoring['reward_function']['x_plain_file_order']:.2f}x, "
                 f"{scoring['reward_function']['x_plain_sorted']:.2f}x{peak('reward_function')}) | max reward difference "
                 f"{max(scoring[k]['max_abs_diff'] for k in ('plain_sorted', 'rm_lab_score', 'reward_function')):.1e} |")
    return line
