"""Memory of a run per device, from its config alone (meta device: no weights, no download).

What one device holds for a training step:
  weights      every parameter in `model.dtype` (fp32: 4 bytes; bf16/fp16: 2); under a 16-bit
               `trainer.precision` ending in -true, 2 bytes
  gradients    every trainable parameter, in the weights' dtype
  optimizer    AdamW's two moments per trainable parameter, in the weights' dtype (fp32: 8 bytes)
  activations  an estimate for one training step: 2 x batch_size texts (chosen and rejected) of
               max_length tokens, per layer s*b*h*(34 + 5*a*s/h) bytes in 16-bit (Korthikanti et
               al. 2022, "Reducing Activation Recomputation in Large Transformer Models"; 16-bit
               under any 16 precision, mixed included, or 16-bit weights), doubled in fp32; with
               gradient checkpointing only each layer's input (2*s*b*h bytes in 16-bit) plus one
               layer's full activations.
Plain data parallelism (ddp) keeps all of it on every device; `strategy: fsdp` shards weights,
gradients and optimizer states over `trainer.devices` (activations are per device either way).
It is an estimate of the peak, not a measurement: allocator overhead, temporary buffers and the
CUDA context (about 0.5-1 GB) come on top. `python -m rm_lab.plan` prints it; the runner warns
before a run whose estimate exceeds its device.
"""
from __future__ import annotations

import os
import warnings

import torch
from omegaconf import DictConfig, OmegaConf

from rm_lab.eval.params import count
from rm_lab.runner.build import build_backbone, build_method

HALF = ("bf16-true", "16-true", "bf16", "16", "half")
HALF_DTYPES = ("bfloat16", "float16")
ADVICE = ("try a LoRA method (method=base_lora), model.dtype=bfloat16 or trainer.precision=bf16-true, "
          "model.gradient_checkpointing=true, trainer=fsdp, or a smaller dataset.batch_size")


def activation_bytes(layers: int, hidden: int, heads: int, texts: int, length: int, half: bool,
                     checkpointing: bool) -> float:
    """One training step's activations (see the module docstring)."""
    s, b, h, a = length, texts, hidden, heads
    per_layer = s * b * h * (34 + 5 * a * s / h)
    if not half:
        per_layer *= 2
    if checkpointing:
        return layers * 2 * s * b * h * (1 if half else 2) + per_layer
    return layers * per_layer


def shards(trainer: DictConfig) -> int:
    """Devices the sharded states are split over: `trainer.devices` under an FSDP strategy, else 1."""
    strategy = trainer.get("strategy")
    name = strategy if isinstance(strategy, str) else (strategy or {}).get("_target_", "")
    devices = trainer.get("devices", 1)
    return int(devices) if "fsdp" in str(name).lower() and isinstance(devices, int) and devices > 0 else 1


def memory_plan(cfg: DictConfig, device_bytes: float | None = None) -> dict:
    """The per-device estimate of a composed config (`model.pretrained` is ignored: shapes only)."""
    cfg = OmegaConf.merge(cfg, {"model": {"pretrained": False}})
    backbone = build_backbone(cfg)
    config = backbone.config()
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = build_method(cfg.method, backbone=backbone, domains=list(cfg.dataset.domains))
    counted = count(module)
    total, trainable = counted["total"], counted["trainable"]
    precision = str(cfg.trainer.get("precision", "32-true"))
    half_weights = precision in HALF or str(cfg.model.get("dtype", "float32")) in HALF_DTYPES
    width = 2 if half_weights else 4
    split = shards(cfg.trainer)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 0)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 1)
    texts = 2 * int(cfg.dataset.batch_size)
    checkpointing = bool(cfg.model.get("gradient_checkpointing"))
    parts = {"weights": total * width / split, "gradients": trainable * width / split,
             "optimizer": trainable * 2 * width / split,
             "activations": activation_bytes(layers, backbone.hidden_size, heads, texts, backbone.max_length,
                                             "16" in precision or half_weights, checkpointing)}
    out = {"method": cfg.method.name, "model": cfg.model.name, "precision": precision,
           "dtype": str(cfg.model.get("dtype", "float32")), "params": total, "trainable": trainable,
           "batch_texts": texts, "max_length": backbone.max_length, "gradient_checkpointing": checkpointing,
           "shards": split, "bytes": parts, "total_bytes": sum(parts.values())}
    if device_bytes:
        out["device_bytes"] = float(device_bytes)
        out["fits"] = out["total_bytes"] <= out["device_bytes"]
    return out


def describe(p: dict) -> str:
    gb = {k: v / 1e9 for k, v in p["bytes"].items()}
    lines = [f"{p['method']} on {p['model']} ({p['precision']}, {p['dtype']} weights): {p['params'] / 1e9:.3f}B "
             f"parameters, {p['trainable'] / 1e9:.3f}B trainable; batch {p['batch_texts']} texts x "
             f"{p['max_length']} tokens" + (", gradient checkpointing" if p["gradient_checkpointing"] else "")
             + (f", sharded over {p['shards']} devices" if p["shards"] > 1 else ""),
             "| part | GB per device |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,.2f} |" for k, v in gb.items()]
    lines.append(f"| **total** | {p['total_bytes'] / 1e9:,.2f} |")
    if "fits" in p:
        verdict = "fits" if p["fits"] else "does NOT fit"
        lines.append(f"{verdict} in {p['device_bytes'] / 1e9:,.0f} GB" + ("" if p["fits"] else f": {ADVICE}"))
    return "\n".join(lines)


def device_bytes(cfg: DictConfig) -> tuple[float | None, str]:
    """(memory of one device of the run, what it is): the first visible GPU's memory for a GPU
    trainer when one is visible, else this machine's RAM for a CPU trainer, else (None, why)."""
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return float(props.total_memory), f"GPU {props.name}"
    if accelerator == "cpu":
        try:
            return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "this machine's RAM"
        except (ValueError, OSError, AttributeError):
            return None, "RAM size unknown"
    return None, f"no visible device for accelerator {accelerator!r}"
