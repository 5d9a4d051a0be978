"""Parameter counts of backbones built from their config on the meta device (no memory, no hub).

    python -m rm_lab.analysis.zoo                              # the decoder LLM zoo
    python -m rm_lab.analysis.zoo qwen2.5-7b-instruct gemma-2-9b-it
    python -m rm_lab.analysis.zoo --stages                     # one family's post-training stages

`backbone` is what a reward model keeps (the transformer without its LM head); `with_lm_head`
adds the output embedding when it is not tied to the input one, which is the count model
cards publish.

`STAGES` lists post-training stages of one pre-trained model each (`ZooEntry`: conf/model name,
family, stage, parent): Llama-3.1-8B base, Tulu 3's SFT, DPO and final (RLVR) models trained from
it, and Meta's Instruct; Qwen2.5-7B base and Instruct. rm_lab.studies.base_model.stages reads them to
compare reward models across stages (`experiment=base_model_stages` trains them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from hydra.utils import instantiate

from rm_lab.core.config import compose
from rm_lab.eval.params import count

ZOO = ("qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct", "qwen2.5-7b-instruct",
       "gemma-2-2b-it", "gemma-2-9b-it", "llama-3.2-1b-instruct", "llama-3.2-3b-instruct",
       "llama-3.1-8b-instruct")

STAGE_NAMES = ("base", "sft", "dpo", "rl", "final", "instruct")  # the stages a zoo entry may name


@dataclass(frozen=True)
class ZooEntry:
    """One backbone of a family's post-training line: `model` (conf/model name), `family` (the
    pre-trained model it descends from), `stage` (one of STAGE_NAMES: base; sft, dpo, rl for an
    intermediate checkpoint; final for a recipe's released model; instruct for a vendor's chat
    model whose steps are not released) and `parent` (the model it was trained from; None for base)."""

    model: str
    family: str
    stage: str
    parent: str | None = None

    def __post_init__(self):
        if self.stage not in STAGE_NAMES:
            raise ValueError(f"{self.model}: stage must be one of {list(STAGE_NAMES)}, got {self.stage!r}")
        if (self.stage == "base") != (self.parent is None):
            raise ValueError(f"{self.model}: a base model has no parent, every other stage has one")


STAGES = (
    ZooEntry("llama-3.1-8b", "llama-3.1-8b", "base"),
    ZooEntry("tulu-3-8b-sft", "llama-3.1-8b", "sft", parent="llama-3.1-8b"),
    ZooEntry("tulu-3-8b-dpo", "llama-3.1-8b", "dpo", parent="tulu-3-8b-sft"),
    ZooEntry("tulu-3-8b", "llama-3.1-8b", "final", parent="tulu-3-8b-dpo"),
    ZooEntry("llama-3.1-8b-instruct", "llama-3.1-8b", "instruct", parent="llama-3.1-8b"),
    ZooEntry("qwen2.5-7b", "qwen2.5-7b", "base"),
    ZooEntry("qwen2.5-7b-instruct", "qwen2.5-7b", "instruct", parent="qwen2.5-7b"),
)


def model_config(name: str):
    return compose([f"model={name}", "model.pretrained=false"]).model


def count_from_config(name: str) -> dict:
    """{"model", "source", "backbone", "with_lm_head", "hidden_size", "layers"} for conf/model/<name>.yaml."""
    from transformers import AutoModel

    backbone = instantiate(model_config(name), _convert_="all")
    config = backbone.config()
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    total = count(model)["total"]
    tied = getattr(config, "tie_word_embeddings", True)
    head = 0 if tied else config.vocab_size * backbone.hidden_size
    return {"model": name, "source": backbone.source, "backbone": total, "with_lm_head": total + head,
            "hidden_size": backbone.hidden_size, "layers": getattr(config, "num_hidden_layers", None)}
