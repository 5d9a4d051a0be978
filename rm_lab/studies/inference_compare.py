"""Inference time per input of ARLISS against RODOS on the same backbone, in one process.

    python -m rm_lab.inference_compare model=minilm-l6
    python -m rm_lab.inference_compare model=deberta-v3-base model.pretrained=false --device cuda
    python -m rm_lab.inference_compare --rodos RUN_DIR --arliss RUN_DIR   # trained, stored components

Both methods are built from the same config (any `key=value` override) and score the same
test batches, shuffled so domains are mixed as in a real stream. Each batch is routed by the
method's router; with untrained routers (no stored runs given) the routes are forced to the
gold domains instead (`--routing gold`), so the adapter switching is what a trained router
would cause, while the router's forward pass is still run and timed. Batches alternate
between the methods so both see the same machine load. Prints a Markdown table and writes
JSON to --out when given: seconds per input for each, the ratio ARLISS/RODOS, and ARLISS's
adapter switches.
"""
from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

from rm_lab.core.config import compose
from rm_lab.data.loaders import seeded_loader
from rm_lab.runner.build import build_data, build_method

METHODS = ("rodos", "arliss")


def build(overrides: list[str], stored: dict[str, str | None], device: str, merge: bool = True):
    cfg = compose(overrides)
    pl.seed_everything(cfg.seed)
    dm, backbone = build_data(cfg)
    modules = {}
    for name in METHODS:
        node = compose([*overrides, f"method={name}"]).method
        if stored.get(name):
            node.reuse_components, node.retrain = stored[name], []
        if name == "arliss":
            node.merge_at_inference = merge
        module = build_method(node, data=dm, backbone=backbone, domains=dm.domain_names)
        modules[name] = module.to(device).eval()
    return cfg, dm, modules


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def compare(overrides: list[str], device: str = "cpu", routing: str | None = None, repeats: int = 1,
            max_batches: int | None = None, stored: dict | None = None, merge: bool = True) -> dict:
    stored = stored or {}
    routing = routing or ("router" if all(stored.get(m) for m in METHODS) else "gold")
    cfg, dm, modules = build(overrides, stored, device, merge)
    if routing == "gold":
        for module in modules.values():
            module.forced_routes = lambda b: b["domain"]
    test = dm.test_dataloader()  # shuffled below with the run's seed: every domain in every batch
    loader = seeded_loader(test.dataset, dm.eval_batch_size, True, test.collate_fn, seed=cfg.seed)
    batches = [to_device(b, device) for i, b in enumerate(loader) if max_batches is None or i < max_batches]
    if not batches:
        raise ValueError("no test pairs to time: check dataset.max_pairs.test")
    seconds = {m: 0.0 for m in METHODS}
    inputs = 0
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        for module in modules.values():  # warm-up: first calls allocate and compile kernels
            module.score(batches[0])
        modules["arliss"].switches = 0
        for r in range(repeats):
            for i, batch in enumerate(batches):
                order = METHODS if (i + r) % 2 == 0 else METHODS[::-1]
                for name in order:
                    sync()
                    start = time.perf_counter()
                    modules[name].score(batch)
                    sync()
                    seconds[name] += time.perf_counter() - start
                inputs += batch["input_ids"].shape[0]
    per_input = {m: seconds[m] / inputs for m in METHODS}
    switches = modules["arliss"].switches
    return {
        "model": cfg.model.name, "dataset": cfg.dataset.name, "device": device, "routing": routing,
        "batches": len(batches), "repeats": repeats, "inputs": inputs, "batch_size": dm.eval_batch_size,
        "seconds_per_input": per_input, "ratio_arliss_over_rodos": per_input["arliss"] / per_input["rodos"],
        "arliss_adapter_switches": switches, "arliss_switches_per_batch": switches / (len(batches) * repeats),
        "threads": torch.get_num_threads(), "covered_domains": modules["rodos"].covered, "stored": stored, "arliss_merge_at_inference": merge,
    }


def markdown(result: dict) -> str:
    s = result["seconds_per_input"]
    return "\n".join([
        f"inference on {result['model']} / {result['dataset']} ({result['device']}, routing: {result['routing']}, "
        f"{result['inputs']} inputs in batches of {result['batch_size']})",
        "| method | ms per input |", "| --- | ---: |",
        f"| rodos | {1000 * s['rodos']:.3f} |", f"| arliss | {1000 * s['arliss']:.3f} |",
        f"ARLISS / RODOS = {result['ratio_arliss_over_rodos']:.3f} (ARLISS adapters "
        f"{'merged on switch' if result['arliss_merge_at_inference'] else 'unmerged'}); switched "
        f"{result['arliss_adapter_switches']} times ({result['arliss_switches_per_batch']:.2f} per batch)",
    ])
