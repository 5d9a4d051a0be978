"""Tiny trained runs and their exports for the RLHF tests (reward function, TRL path, OpenRLHF
loading, server, model card): each made once per test process, under pytest's session temp folder.

The backbones are those of tests/test_export.py: random-weight models built from config that read
the packaged tokenizers offline (SmolLM2's chat template for the Llama decoder, MiniLM's WordPiece
for the BERT encoder), and tiny-deberta for the methods.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rm_lab.core.config import compose

TINY = ["model=tiny-deberta", "dataset.max_pairs.train=24", "dataset.max_pairs.validation=8",
        "dataset.max_pairs.test=12", "dataset.batch_size=8", "logger=csv"]
SMALL = ["dataset.max_pairs.train=8", "dataset.max_pairs.test=6", "dataset.batch_size=4"]
LLAMA = {"vocab_size": 49152, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": True}
# max length 1024: every bundled HH test pair fits whole, so TRL (which never truncates) reads what the run read
TINY_LLAMA = ["model=smollm2-135m", "model.pretrained=false", "model.model_type=llama", "model.max_length=1024",
              *(f"+model.architecture.{k}={v}" for k, v in LLAMA.items())]
TINY_BERT = ["model=minilm-l6", "model.pretrained=false", "model.model_type=bert", "model.max_length=64",
             *(f"+model.architecture.{k}={v}" for k, v in {"hidden_size": 32, "num_hidden_layers": 2,
                                                          "num_attention_heads": 2, "intermediate_size": 64}.items())]
EMBEDDING = ["method=embedding", "method.hidden=[16]", "method.epochs=3", "method.ensemble_size=3",
             "method.embed.progress=false"]

RUNS = {
    "chat": [*TINY_LLAMA, "method.lr=1e-3"],                                 # SmolLM2 tokenizer, chat format
    "pair_llama": [*TINY_LLAMA, "model.input_format=pair", "method.lr=1e-3"],
    "bert": [*TINY_BERT, "method.lr=1e-3"],                                  # MiniLM tokenizer, pair format
    "baseline": ["method.lr=1e-3"],
    "base_lora": ["method=base_lora", "method.lr=1e-3"],
    "more": ["method=more", *SMALL],
    "rodos": ["method=rodos", *SMALL],
    "arliss": ["method=arliss", *SMALL],
    "embedding": EMBEDDING,
}
_made: dict[str, Path] = {}


def trained(tmp_path_factory, name: str) -> Path:
    """The folder of the tiny run `name` (RUNS), trained by the runner on first use."""
    if name not in _made:
        from rm_lab.runner.run import run

        root = tmp_path_factory.mktemp(f"run_{name}")
        cfg = compose([*TINY, *RUNS[name]])
        cfg.paths.output_dir = str(root / "run")
        cfg.paths.cache_dir = str(root / "cache")
        OmegaConf.resolve(cfg)
        run(cfg)
        _made[name] = root / "run"
    return _made[name]


def exported(tmp_path_factory, name: str, fmt: str = "auto") -> Path:
    """The export of the tiny run `name` (python -m rm_lab.export's library call), made on first use."""
    key = f"{name}:{fmt}"
    if key not in _made:
        from rm_lab.inference.export import export

        _made[key] = export(trained(tmp_path_factory, name), tmp_path_factory.mktemp(f"export_{name}") / "out", fmt)
    return _made[key]


def held_out_pairs(run_dir: Path, domain: str | None = None) -> list:
    """The run's own test pairs (`Pair`), from its datamodule rebuilt from the stored config."""
    import json

    from rm_lab.runner.build import build_data

    results = json.loads((run_dir / "results.json").read_text())
    datamodule, _ = build_data(OmegaConf.create(results["config"]))
    return [p for p in datamodule.pairs["test"] if domain is None or p.domain == domain]

