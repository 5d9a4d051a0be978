"""Parameter counts of backbones built from their config on the meta device (no memory, no hub).

    python -m rm_lab.analysis.zoo                              # the decoder LLM zoo
    python -m rm_lab.analysis.zoo qwen2.5-7b-instruct gemma-2-9b-it

`backbone` is what a reward model keeps (the transformer without its LM head); `with_lm_head`
adds the output embedding when it is not tied to the input one, which is the count model
cards publish.
"""
from __future__ import annotations

import argparse
import logging

import torch
from hydra.utils import instantiate

from rm_lab.config import compose

ZOO = ("qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct", "qwen2.5-7b-instruct",
       "gemma-2-2b-it", "gemma-2-9b-it", "llama-3.2-1b-instruct", "llama-3.2-3b-instruct",
       "llama-3.1-8b-instruct")


def model_config(name: str):
    return compose([f"model={name}", "model.pretrained=false"]).model


def count_from_config(name: str) -> dict:
    """{"model", "source", "backbone", "with_lm_head", "hidden_size", "layers"} for conf/model/<name>.yaml."""
    from transformers import AutoModel

    backbone = instantiate(model_config(name), _convert_="all")
    config = backbone.config()
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    tied = getattr(config, "tie_word_embeddings", True)
    head = 0 if tied else config.vocab_size * backbone.hidden_size
    return {"model": name, "source": backbone.source, "backbone": total, "with_lm_head": total + head,
            "hidden_size": backbone.hidden_size, "layers": getattr(config, "num_hidden_layers", None)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=list(ZOO), help="conf/model names")
    args = parser.parse_args(argv)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    rows = [count_from_config(name) for name in args.models]
    print("| model | hub id | layers | hidden | backbone params | with LM head |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['source']} | {r['layers']} | {r['hidden_size']} | "
              f"{r['backbone'] / 1e9:.3f}B | {r['with_lm_head'] / 1e9:.3f}B |")
    return rows


if __name__ == "__main__":
    main()
