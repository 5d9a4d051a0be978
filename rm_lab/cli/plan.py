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
import sys

from rm_lab.cli import config_errors, no_stray_flags
from rm_lab.core.checks import check_runner
from rm_lab.core.config import compose
from rm_lab.core.sizes import parse_bytes

__all__ = ["plan", "main"]  # the arithmetic is rm_lab.runner.memory's (activation_bytes) and rm_lab.core.sizes's


def plan(overrides: list[str], device_memory: str | None = None) -> dict:
    from rm_lab.runner.memory import memory_plan

    cfg = compose(["model.pretrained=false", *overrides])
    return memory_plan(cfg, parse_bytes(device_memory) if device_memory else None)


def memory_size(text: str) -> str:
    """argparse type of --device-memory: the text, once it parses (said before anything loads)."""
    try:
        parse_bytes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--device-memory", type=memory_size,
                        help="e.g. 80GB or 80G: say whether the run fits one such device")
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.ERROR)
    no_stray_flags(parser, overrides)
    with config_errors(parser.prog):  # said at once, before torch loads
        cfg = compose(overrides)
        check_runner(cfg)
    from rm_lab.runner.memory import describe
    from rm_lab.runner.preflight import preflight

    said = preflight(cfg)
    print(said.text())  # what `python -m rm_lab <overrides>` says before any work
    result = plan(overrides, args.device_memory)
    print(describe(result))
    if said.config_problems:  # what the run would refuse on any machine (not the hub, a GPU or memory this one lacks)
        print(f"{parser.prog}: the run would not start: {said.message()}", file=sys.stderr, flush=True)
        raise SystemExit(2)
    if said.problems or said.unreachable:  # this machine's: the plan is for the machine the run will have
        print(f"note: on this machine, {said.message()}", file=sys.stderr, flush=True)
    return result


if __name__ == "__main__":
    main()
