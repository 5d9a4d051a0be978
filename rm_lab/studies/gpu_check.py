"""The GPU check: `make gpu-check` (`python -m rm_lab.gpu_check`), one prepared script for a GPU box.

    python -m rm_lab.gpu_check                                  # deberta-v3-base, Baseline and RODOS
    TRL_PYTHON=../trl-venv/bin/python python -m rm_lab.gpu_check  # and TRL's RewardTrainer on the same pairs
    python -m rm_lab.gpu_check --model tiny-deberta --steps 2 --batch 4 --max-length 64   # CPU smoke

Trains Baseline and RODOS with the router paper's recipe (`experiment=paper_<method>` and
`recipe=five_domains_paper_<method>`: AdamW lr 5e-6, batch 32, max length 512, the backbone's own
dropout, bf16 mixed precision on a GPU) for a
fixed number of steps per fit, on the bundled HH-RLHF, HellaSwag and OpenAssistant samples (no hub:
the GPU box may have no network; the backbone is built from its config unless `--pretrained`),
validation off so the clock holds training alone. Prints one JSON line per figure:

  pairs_per_s              pairs trained per second (steps x batch per fit / the fits' seconds)
  percent_of_bf16_peak     training FLOPs per second (6 x linear parameters per real token plus
                           attention, rm_lab.eval.params.training_flops) / the device's
                           measured bf16 matrix-multiply rate (fp32 on a CPU without bf16 autocast)
  peak_memory_gb           the device's peak allocated memory during the fit (CUDA), or the
                           process's peak resident memory (CPU)
  trl_pairs_per_s          TRL's RewardTrainer on the same pairs, tokens, batch, length, steps and
                           precision, in the virtualenv TRL_PYTHON names (its own, never rm_lab's)

Each line: {"figure", "tool", "method", "model", "device", "value", "unit"}. The check is a
measurement, not a test: it fails only when a run fails.
"""
from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from rm_lab.core.checks import check_values
from rm_lab.core.config import compose
from rm_lab.eval.params import linear_params, training_flops
from rm_lab.models.attention import cpu_bf16_native

METHODS = ("baseline", "rodos")
PEER = Path(__file__).with_name("trl_peer.py")


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores)"


def matmul_peak(dtype: torch.dtype, device: str, seconds: float = 1.0) -> float:
    """Measured matrix-multiply rate in GFLOP/s on `device` in `dtype` (best of repeated timings)."""
    n = 4096 if device == "cuda" else 1024 if dtype == torch.float32 or cpu_bf16_native() else 256  # the slow fallback: seconds per 1024 product
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.mm(a, b)
    sync()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        sync()
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - start))
    return best / 1e9


def overrides(method: str, model: str, steps: int, batch: int, max_length: int, pretrained: bool,
              device: str, run_dir: Path) -> list[str]:
    cap = steps * batch
    return [f"experiment=paper_{method}", f"model={model}", "dataset=five_domains_sample",
            f"recipe=five_domains_paper_{method}",  # the paper's recipe on the bundled data
            "inference_samples=8",
            f"dataset.max_pairs.train={cap}", "dataset.max_pairs.validation=8", "dataset.max_pairs.test=8",
            f"dataset.batch_size={batch}", f"model.max_length={max_length}", f"+trainer.max_steps={steps}",
            "+trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "logger=none",
            "checkpoint.last=false", "checkpoint.best=false",
            *([] if pretrained else ["model.pretrained=false"]),
            *(["trainer=cpu", "trainer.precision=bf16-mixed"] if device == "cpu" else []),
            f"paths.output_dir={run_dir}"]


def train_one(method: str, model: str, steps: int, batch: int, max_length: int, pretrained: bool,
              root: Path, device: str) -> dict:
    """One fixed-step run through the runner; its pairs/s, FLOPs share and peak memory."""
    from rm_lab.runner.build import build_data
    from rm_lab.runner.run import run

    cfg = compose(overrides(method, model, steps, batch, max_length, pretrained, device, root / method))
    OmegaConf.resolve(cfg)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    log = root / f"{method}.log"
    with log.open("w", encoding="utf-8") as handle, contextlib.redirect_stdout(handle):
        results = run(cfg)  # the run's own report goes to the log: the check prints JSON lines only
    if results.get("status") != "completed":
        tail = "".join(log.read_text(encoding="utf-8").splitlines(keepends=True)[-20:])
        raise RuntimeError(f"the {method} run ended {results.get('status')}: {results.get('error')}\n{tail}")
    timing = results["train_time"]
    fits = timing.get("by_component") or {}
    seconds = sum(fits.values()) if len(fits) > 1 else sum(timing["per_epoch_s"])
    pairs = steps * batch * max(len(fits), 1)
    peak_gb = (torch.cuda.max_memory_allocated() if device == "cuda" else
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30
    data, backbone = build_data(cfg)
    torch.manual_seed(int(cfg.seed))
    lengths: list[int] = []
    for step, batch_ in enumerate(data.train_dataloader()):
        if step >= steps:
            break
        lengths += batch_["attention_mask"].sum(1).tolist()
    config = backbone.config()
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 0)
    flops = training_flops(lengths, linear_params(backbone.build()), layers, backbone.hidden_size)
    flops *= max(len(fits), 1)  # every fit trains a backbone-sized model on a batch this size
    return {"pairs_per_s": pairs / seconds, "flops_per_s": flops / seconds, "peak_memory_gb": peak_gb,
            "precision": str(cfg.trainer.precision), "train_pairs": data.pairs["train"], "cfg": cfg}


def write_pairs(pairs, path: Path, limit: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for pair in list(pairs)[:limit]:
            row = pair.to_dict()
            handle.write(json.dumps({"prompt": row["prompt"], "chosen": row["chosen"],
                                     "rejected": row["rejected"]}) + "\n")
    return path


def trl_pairs_per_s(trl_python: str, pairs_file: Path, tokenizer: str, cfg, steps: int, batch: int,
                    max_length: int, bf16: bool) -> float:
    """TRL's RewardTrainer in its own virtualenv on the same pairs (trl_peer.py): pairs per second."""
    from rm_lab.models.backbone import load_args, resolve_source

    folder, extra = load_args(resolve_source(tokenizer)[0])
    spec = {"pairs": str(pairs_file), "tokenizer": folder, "tokenizer_kwargs": extra,
            "model_type": cfg.model.get("model_type"), "architecture": OmegaConf.to_container(
                cfg.model.get("architecture") or {}), "source": cfg.model.source,
            "pretrained": bool(cfg.model.pretrained), "steps": steps, "batch": batch, "max_length": max_length,
            "lr": float(cfg.method.lr), "bf16": bf16}
    done = subprocess.run([trl_python, str(PEER), json.dumps(spec)], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"TRL peer failed ({trl_python}):\n{done.stderr[-2000:]}")
    return float(json.loads(lines[-1])["pairs_per_s"])


def check(model: str = "deberta-v3-base", methods=METHODS, steps: int = 20, batch: int = 32,
          max_length: int = 512, pretrained: bool = False, trl_python: str | None = None,
          out=sys.stdout) -> list[dict]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for method in methods:  # every fit's config, checked before the clock starts: a wrong option is said at once
        check_values(compose(overrides(method, model, steps, batch, max_length, pretrained, device, Path("."))))
    name = device_name()
    dtype = torch.bfloat16
    peak = matmul_peak(dtype, device)
    lines: list[dict] = []

    def emit(figure: str, tool: str, method: str, value: float, unit: str) -> None:
        line = {"figure": figure, "tool": tool, "method": method, "model": model, "device": name,
                "value": round(float(value), 4), "unit": unit}
        lines.append(line)
        print(json.dumps(line), file=out, flush=True)

    emit("bf16_matmul_peak", "torch", "-", peak, "GFLOP/s")
    with tempfile.TemporaryDirectory(prefix="rm_lab_gpu_check_") as tmp:
        root = Path(tmp)
        baseline = None
        for method in methods:
            r = train_one(method, model, steps, batch, max_length, pretrained, root, device)
            baseline = baseline or r
            emit("pairs_per_s", "rm_lab", method, r["pairs_per_s"], "pairs/s")
            emit("percent_of_bf16_peak", "rm_lab", method, 100 * r["flops_per_s"] / 1e9 / peak, "%")
            emit("peak_memory_gb", "rm_lab", method, r["peak_memory_gb"], "GiB" if device == "cuda" else "GiB RSS")
        if trl_python and baseline is not None:
            cfg = baseline["cfg"]
            pairs_file = write_pairs(baseline["train_pairs"], root / "pairs.jsonl", steps * batch)
            value = trl_pairs_per_s(trl_python, pairs_file, cfg.model.get("tokenizer") or cfg.model.source, cfg,
                                    steps, batch, max_length, bf16=True)
            emit("trl_pairs_per_s", "trl", "baseline", value, "pairs/s")
    return lines
