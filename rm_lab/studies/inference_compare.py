"""Inference time per input of ARLISS against RODOS on the same backbone, in one process.

The methods compared are those declaring `Capabilities(inference_compare=True)` (RODOS and
ARLISS), in the registry's order; the first (RODOS) is the reference of the ratios.

    python -m rm_lab.inference_compare model=minilm-l6
    python -m rm_lab.inference_compare model=deberta-v3-base model.pretrained=false --device cuda
    python -m rm_lab.inference_compare --rodos RUN_DIR --arliss RUN_DIR   # trained, stored components

Both methods are built from the same config (any `key=value` override) and score the same
test batches, shuffled so domains are mixed as in a real stream. Each batch is routed by the
method's router; with untrained routers (no stored runs given) the routes are forced to the
gold domains instead (`--routing gold`), so the adapter switching is what a trained router
would cause, while the router's forward pass is still run and timed. Batches alternate
between the methods so both see the same machine load. Prints a Markdown table and writes
JSON to --out when given: seconds per input for each, the ratio ARLISS/RODOS
(`ratio_arliss_over_rodos`), and ARLISS's adapter switches (`arliss_adapter_switches`).
"""
from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

from rm_lab.core.config import compose
from rm_lab.data.loaders import seeded_loader
from rm_lab.methods.capabilities import methods
from rm_lab.runner.build import build_data, build_method


def compared(overrides: list[str] = ()) -> list[str]:
    """The methods timed against each other (`Capabilities.inference_compare`: RODOS, ARLISS), in
    the registry's order; the first is the reference the others' ratios divide by."""
    return [m.choice for m in methods(overrides, inference_compare=True)]


def build(overrides: list[str], stored: dict[str, str | None], device: str, merge: bool = True,
          names: list[str] | None = None):
    cfg = compose(overrides)
    pl.seed_everything(cfg.seed)
    dm, backbone = build_data(cfg)
    modules = {}
    for name in names or compared(overrides):
        node = compose([*overrides, f"method={name}"]).method
        if stored.get(name):
            node.reuse_components, node.retrain = stored[name], []
        if "merge_at_inference" in node:  # adapters merged on switch, or peft's unmerged layers
            node.merge_at_inference = merge
        module = build_method(node, data=dm, backbone=backbone, domains=dm.domain_names)
        modules[name] = module.to(device).eval()
    return cfg, dm, modules


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def compare(overrides: list[str], device: str = "cpu", routing: str | None = None, repeats: int = 1,
            max_batches: int | None = None, stored: dict | None = None, merge: bool = True) -> dict:
    stored = stored or {}
    names = compared(overrides)
    if len(names) < 2:
        raise ValueError(f"an inference comparison needs two methods with Capabilities(inference_compare=True); "
                         f"the registry has {names}")
    reference = names[0]
    routing = routing or ("router" if all(stored.get(m) for m in names) else "gold")
    cfg, dm, modules = build(overrides, stored, device, merge, names)
    if routing == "gold":
        for module in modules.values():
            module.forced_routes = lambda b: b["domain"]
    test = dm.test_dataloader()  # shuffled below with the run's seed: every domain in every batch
    loader = seeded_loader(test.dataset, dm.eval_batch_size, True, test.collate_fn, seed=cfg.seed)
    batches = [to_device(b, device) for i, b in enumerate(loader) if max_batches is None or i < max_batches]
    if not batches:
        raise ValueError("no test pairs to time: check dataset.max_pairs.test")
    seconds = {m: 0.0 for m in names}
    inputs = 0
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    switching = [m for m in names if hasattr(modules[m], "switches")]  # methods that switch adapters
    with torch.inference_mode():
        for module in modules.values():  # warm-up: first calls allocate and compile kernels
            module.score(batches[0])
        for m in switching:
            modules[m].switches = 0
        for r in range(repeats):
            for i, batch in enumerate(batches):
                order = names if (i + r) % 2 == 0 else names[::-1]
                for name in order:
                    sync()
                    start = time.perf_counter()
                    modules[name].score(batch)
                    sync()
                    seconds[name] += time.perf_counter() - start
                inputs += batch["input_ids"].shape[0]
    per_input = {m: seconds[m] / inputs for m in names}
    result = {
        "model": cfg.model.name, "dataset": cfg.dataset.name, "device": device, "routing": routing,
        "batches": len(batches), "repeats": repeats, "inputs": inputs, "batch_size": dm.eval_batch_size,
        "methods": names, "reference": reference, "seconds_per_input": per_input,
        **{f"ratio_{m}_over_{reference}": per_input[m] / per_input[reference] for m in names[1:]},
        "threads": torch.get_num_threads(), "covered_domains": modules[reference].covered, "stored": stored,
    }
    for m in switching:
        switches = modules[m].switches
        result[f"{m}_adapter_switches"] = switches
        result[f"{m}_switches_per_batch"] = switches / (len(batches) * repeats)
        result[f"{m}_merge_at_inference"] = merge
    return result


def markdown(result: dict) -> str:
    s, reference = result["seconds_per_input"], result["reference"]
    lines = [
        f"inference on {result['model']} / {result['dataset']} ({result['device']}, routing: {result['routing']}, "
        f"{result['inputs']} inputs in batches of {result['batch_size']})",
        "| method | ms per input |", "| --- | ---: |",
        *(f"| {m} | {1000 * s[m]:.3f} |" for m in result["methods"]),
    ]
    for m in result["methods"][1:]:
        line = f"{m.upper()} / {reference.upper()} = {result[f'ratio_{m}_over_{reference}']:.3f}"
        if f"{m}_adapter_switches" in result:
            line += (f" ({m.upper()} adapters {'merged on switch' if result[f'{m}_merge_at_inference'] else 'unmerged'});"
                     f" switched {result[f'{m}_adapter_switches']} times ({result[f'{m}_switches_per_batch']:.2f} per batch)")
        lines.append(line)
    return "\n".join(lines)
