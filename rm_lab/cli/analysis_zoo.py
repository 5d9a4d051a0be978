"""`python -m rm_lab.analysis.zoo`: Parameter counts of backbones built from their config on the meta device (no memory, no hub)."""
from __future__ import annotations

import argparse
import logging

from rm_lab.cli import config_errors
from rm_lab.core.config import choices
from rm_lab.studies.base_model.zoo import STAGES, ZOO, count_from_config


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.analysis.zoo", description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="conf/model names (default: the zoo)")
    parser.add_argument("--stages", action="store_true", help="the post-training stages' models (STAGES)")
    args = parser.parse_args(argv)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    models = args.models or ([e.model for e in STAGES] if args.stages else list(ZOO))
    known = choices("model")
    unknown = [name for name in models if name not in known]
    if unknown:
        parser.error(f"no such model: {', '.join(unknown)}; give conf/model names: {', '.join(known)}")
    with config_errors(parser.prog):
        rows = [count_from_config(name) for name in models]
    print("| model | hub id | layers | hidden | backbone params | with LM head |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['source']} | {r['layers']} | {r['hidden_size']} | "
              f"{r['backbone'] / 1e9:.3f}B | {r['with_lm_head'] / 1e9:.3f}B |")
    return rows


if __name__ == "__main__":
    main()
