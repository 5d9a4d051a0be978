"""Memory plan of a run, before any download or training: what one device holds.

    python -m rm_lab.plan experiment=base_model_sweep model=gemma-2-9b-it --device-memory 80GB
    python -m rm_lab.plan method=rodos model=deberta-v3-large dataset.batch_size=8

The method is built from config on the meta device (no weights, no download, no memory), so
parameter counts are exact. Then, per device (plain data parallelism: every device holds it all):
  weights      every parameter: 4 bytes (fp32, also the master copy under *-mixed precision),
               2 bytes under bf16-true/16-true
  gradients    every trainable parameter, in the weights' dtype
  optimizer    AdamW's two moments per trainable parameter, fp32 (8 bytes)
  activations  an estimate for one training step: 2 x batch_size texts (chosen and rejected) of
               max_length tokens, per layer s*b*h*(34 + 5*a*s/h) bytes in 16-bit (Korthikanti et
               al. 2022, "Reducing Activation Recomputation in Large Transformer Models"; 16-bit
               under any 16 precision, mixed included), doubled in fp32; with gradient
               checkpointing only each layer's input (2*s*b*h bytes in 16-bit) plus one layer's
               full activations.
It is an estimate of the peak, not a measurement: allocator overhead, temporary buffers and the
CUDA context (about 0.5-1 GB) come on top.
"""
from __future__ import annotations

import argparse
import logging
import re
import warnings

import torch

from rm_lab.build import build_backbone, build_method
from rm_lab.config import compose

UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
HALF = ("bf16-true", "16-true", "bf16", "16", "half")


def parse_bytes(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    if not match or match.group(2).upper() not in UNITS:
        raise ValueError(f"device memory {text!r}: give a number with a unit, e.g. 80GB, 24GiB")
    return float(match.group(1)) * UNITS[match.group(2).upper()]


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


def plan(overrides: list[str], device_memory: str | None = None) -> dict:
    cfg = compose(["model.pretrained=false", *overrides])
    backbone = build_backbone(cfg)
    config = backbone.config()
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = build_method(cfg.method, backbone=backbone, domains=list(cfg.dataset.domains))
    params = {id(p): p for p in module.parameters()}.values()
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    precision = str(cfg.trainer.get("precision", "32-true"))
    half = precision in HALF
    width = 2 if half else 4
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 0)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 1)
    texts = 2 * int(cfg.dataset.batch_size)
    parts = {"weights": total * width, "gradients": trainable * width, "optimizer": trainable * 8,
             "activations": activation_bytes(layers, backbone.hidden_size, heads, texts, backbone.max_length,
                                             "16" in precision, bool(cfg.model.get("gradient_checkpointing")))}
    out = {"method": cfg.method.name, "model": cfg.model.name, "precision": precision, "params": total,
           "trainable": trainable, "batch_texts": texts, "max_length": backbone.max_length,
           "gradient_checkpointing": bool(cfg.model.get("gradient_checkpointing")),
           "bytes": parts, "total_bytes": sum(parts.values())}
    if device_memory:
        out["device_bytes"] = parse_bytes(device_memory)
        out["fits"] = out["total_bytes"] <= out["device_bytes"]
    return out


def describe(p: dict) -> str:
    gb = {k: v / 1e9 for k, v in p["bytes"].items()}
    lines = [f"{p['method']} on {p['model']} ({p['precision']}): {p['params'] / 1e9:.3f}B parameters, "
             f"{p['trainable'] / 1e9:.3f}B trainable; batch {p['batch_texts']} texts x {p['max_length']} tokens"
             + (", gradient checkpointing" if p["gradient_checkpointing"] else ""),
             "| part | GB per device |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,.2f} |" for k, v in gb.items()]
    lines.append(f"| **total** | {p['total_bytes'] / 1e9:,.2f} |")
    if "fits" in p:
        verdict = "fits" if p["fits"] else "does NOT fit"
        lines.append(f"{verdict} in {p['device_bytes'] / 1e9:,.0f} GB"
                     + ("" if p["fits"] else ": try a LoRA method (method=base_lora), trainer.precision=bf16-true, "
                        "model.gradient_checkpointing=true or a smaller dataset.batch_size"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device-memory", help="e.g. 80GB: say whether the run fits one such device")
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.ERROR)
    result = plan(overrides, args.device_memory)
    print(describe(result))
    return result


if __name__ == "__main__":
    main()
