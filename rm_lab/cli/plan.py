"""Memory plan of a run, before any download or training: what one device holds (after the plan
the run itself says: backbone, data sources, recipe; rm_lab/runner/preflight.py).

    python -m rm_lab.plan experiment=base_model_sweep model=gemma-2-9b-it --device-memory 80GB
    python -m rm_lab.plan method=rodos model=deberta-v3-large dataset.batch_size=8
    python -m rm_lab.plan model=gemma-2-9b-it trainer=fsdp trainer.devices=8 --device-memory 80GB

The method is built from config on the meta device (no weights, no download, no memory), so
parameter counts are exact; what is counted, and how, is rm_lab/runner/memory.py (weights, gradients,
AdamW states, an activation estimate for the batch and length; FSDP shards the first three).
"""
from __future__ import annotations

import argparse
import logging

from rm_lab.cli import config_errors, no_stray_flags
from rm_lab.core.checks import check_values
from rm_lab.core.config import compose

__all__ = ["plan", "main"]  # the arithmetic is rm_lab.runner.memory's (activation_bytes, parse_bytes)


def plan(overrides: list[str], device_memory: str | None = None) -> dict:
    from rm_lab.runner.memory import memory_plan, parse_bytes

    cfg = compose(["model.pretrained=false", *overrides])
    return memory_plan(cfg, parse_bytes(device_memory) if device_memory else None)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--device-memory", help="e.g. 80GB: say whether the run fits one such device")
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.ERROR)
    no_stray_flags(parser, overrides)
    with config_errors(parser.prog):  # said at once, before torch loads
        cfg = compose(overrides)
        check_values(cfg)
    from rm_lab.runner.memory import describe, parse_bytes
    from rm_lab.runner.preflight import preflight

    if args.device_memory:
        with config_errors(parser.prog, ValueError):  # --device-memory without a unit
            parse_bytes(args.device_memory)
    print(preflight(cfg).text())  # what `python -m rm_lab <overrides>` says before any work
    result = plan(overrides, args.device_memory)
    print(describe(result))
    return result


if __name__ == "__main__":
    main()
