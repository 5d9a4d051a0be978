"""A base model's pre-training data mixture, estimated from its tokenizer, as predictor features.

A BPE or WordPiece vocabulary is learnt from the pre-training data, so a tokenizer compresses best
the kinds of text its model saw most (Hayase et al., 2024, "Data Mixture Inference: What do BPE
Tokenizers Reveal about their Training Data?", solve for the mixture from the merge list; this
module uses the simpler token-fertility reading of the same fact, which works for every tokenizer
kind, WordPiece and SentencePiece included):

    compression[m, c] = UTF-8 bytes per token of tokenizer m on reference text of category c
    relative[m, c]    = compression[m, c] / compression[m, all categories]   (vocabulary size cancels)
    affinity[m, c]    = relative[m, c] / mean over the measured tokenizers of relative[., c]
                        (each category's own compressibility cancels)
    share[m, c]       = affinity[m, c] / sum over categories of affinity[m, c]

`share` (columns `mix_<category>`, each row summing to 1) is the estimate: a tokenizer whose
vocabulary gives category c more room than the others do gets a larger share of c. It is an
estimate up to the reference text's coverage, not the mixture itself; the report says so.

Reference text, all offline (read, never downloaded):
  dialogue   HH-RLHF chosen dialogues (bundled sample, MIT, Anthropic)
  narrative  HellaSwag contexts and endings (bundled sample, MIT, Rowan Zellers)
  qa         OpenAssistant English messages (bundled sample, Apache-2.0, LAION)
  code       Python source of the interpreter's own standard library (PSF license)
  math       arithmetic and algebra written by a fixed-seed generator here
Add categories with `reference_dir`: every `<category>.txt` in it is one more (or a replacement).
The bundled samples hold English only, so multilingual share is only measured given such a file.

Tokenizers: the packaged ones (`packaged:minilm`, `packaged:smollm2`) and any hub id held in the
local Hugging Face cache; a model whose tokenizer is not on this machine gets empty features (the
Elastic Net's imputer fills them), and the report lists it.
"""
from __future__ import annotations

import gzip
import json
import logging
import random
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
CHARS_PER_CATEGORY = 60_000
CODE_FILES = ("textwrap.py", "json/decoder.py", "json/encoder.py", "csv.py", "fractions.py", "heapq.py",
              "bisect.py", "shlex.py", "string.py", "calendar.py", "difflib.py", "argparse.py")
PREFIX = "mix_"


def _take(texts, limit: int = CHARS_PER_CATEGORY) -> str:
    out, size = [], 0
    for text in texts:
        text = text.strip()
        if not text:
            continue
        out.append(text)
        size += len(text) + 1
        if size >= limit:
            break
    return "\n".join(out)[:limit]


def _jsonl(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _dialogue() -> str:
    return _take(row["chosen"] for row in _jsonl(SAMPLES / "hh_rlhf" / "helpful-base-test-first2000.jsonl.gz"))


def _narrative() -> str:
    return _take(f"{row['ctx']} {row['endings'][row['label']]}"
                 for row in _jsonl(SAMPLES / "hellaswag" / "hellaswag_val_sample800.jsonl"))


def _messages(node: dict):
    yield node.get("text", "")
    for reply in node.get("replies", []):
        yield from _messages(reply)


def _qa() -> str:
    return _take(text for tree in _jsonl(SAMPLES / "oasst" / "oasst_en_80_trees.jsonl")
                 for text in _messages(tree["prompt"]))


def _code() -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return _take(p.read_text(encoding="utf-8") for name in CODE_FILES if (p := stdlib / name).exists())


def _math(seed: int = 0) -> str:
    rng = random.Random(seed)

    def n(hi: int = 99) -> int:
        return rng.randint(2, hi)

    forms = [lambda: f"Solve {n()}x + {n()} = {n(999)} for x.",
             lambda: f"\\frac{{{n()}}}{{{n()}}} + \\frac{{{n()}}}{{{n()}}} = ?",
             lambda: f"f(x) = {n()}x^{n(5)} - {n()}x + {n()}, so f'(x) = ?",
             lambda: f"\\int_0^{{{n(9)}}} x^{n(4)} \\, dx",
             lambda: f"{n(9999)} * {n(999)} = {rng.randint(10_000, 9_999_999)}",
             lambda: f"\\sum_{{k=1}}^{{{n()}}} k^{n(3)} \\geq {n(9999)}",
             lambda: f"Let a_n = {n()}a_{{n-1}} + {n()} with a_0 = {n(9)}; find a_{n(9)}.",
             lambda: f"sqrt({n(999)}) ~ {rng.uniform(1, 40):.4f}; log_{n(9)}({n(999)}) ~ {rng.uniform(0, 9):.3f}"]
    return _take(rng.choice(forms)() for _ in range(100_000))


BUILTIN = {"dialogue": _dialogue, "narrative": _narrative, "qa": _qa, "code": _code, "math": _math}


def reference_texts(reference_dir: str | Path | None = None) -> dict[str, str]:
    """Category -> reference text: the built-in categories plus every `<category>.txt` in reference_dir."""
    texts = {name: make() for name, make in BUILTIN.items()}
    if reference_dir is not None:
        folder = Path(reference_dir)
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise FileNotFoundError(f"no <category>.txt files in {folder}: put one UTF-8 text file per category there")
        for path in files:
            texts[path.stem] = path.read_text(encoding="utf-8")[:CHARS_PER_CATEGORY]
    empty = [name for name, text in texts.items() if not text.strip()]
    if empty:
        raise ValueError(f"reference text is empty for {empty}")
    return texts


def bytes_per_token(tokenizer, text: str) -> float:
    """UTF-8 bytes per token of `tokenizer` on `text`, tokenized line by line without special tokens."""
    lines = [line for line in text.split("\n") if line.strip()]
    ids = tokenizer(lines, add_special_tokens=False)["input_ids"]
    tokens = sum(len(row) for row in ids)
    return sum(len(line.encode("utf-8")) for line in lines) / max(tokens, 1)


def compression_table(tokenizers: dict, texts: dict[str, str]) -> pd.DataFrame:
    """Bytes per token, one row per tokenizer, one column per category plus `all`."""
    rows = {}
    for model, tokenizer in tokenizers.items():
        row = {category: bytes_per_token(tokenizer, text) for category, text in texts.items()}
        row["all"] = bytes_per_token(tokenizer, "\n".join(texts.values()))
        rows[model] = row
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*texts, "all"])


def mixture_shares(compression: pd.DataFrame) -> pd.DataFrame:
    """The estimated mixture (see the module doc): `mix_<category>` shares, each row summing to 1."""
    categories = [c for c in compression.columns if c != "all"]
    relative = compression[categories].div(compression["all"], axis=0)
    affinity = relative / relative.mean(axis=0)
    shares = affinity.div(affinity.sum(axis=1), axis=0)
    return shares.add_prefix(PREFIX)


def load_tokenizer(model: str, hub_id: str | None):
    """The model's own tokenizer from this machine (packaged or the local HF cache), else None."""
    from transformers import AutoTokenizer

    from rm_lab.models.backbone import load_args, resolve_source

    source = hub_id if isinstance(hub_id, str) and hub_id else None
    if source is None:
        return None, "no hub_id in the benchmark table"
    try:
        if source.startswith("packaged:"):
            folder, extra = load_args(resolve_source(source)[0])
            return AutoTokenizer.from_pretrained(folder, **extra), source
        return AutoTokenizer.from_pretrained(source, local_files_only=True), source
    except (OSError, ValueError, ImportError) as err:
        return None, f"tokenizer of {source} not on this machine ({type(err).__name__})"


def mixture_features(hub_ids: dict[str, str], models, reference_dir: str | Path | None = None
                     ) -> tuple[pd.DataFrame, dict]:
    """(`mix_<category>` features indexed by model, empty rows where no tokenizer is here; info
    with the compression table and where each tokenizer came from or why it is missing)."""
    texts = reference_texts(reference_dir)
    tokenizers, origin = {}, {}
    for model in models:
        tokenizer, where = load_tokenizer(model, hub_ids.get(model))
        origin[model] = where
        if tokenizer is not None:
            tokenizers[model] = tokenizer
    columns = [PREFIX + c for c in texts]
    if len(tokenizers) < 2:
        return (pd.DataFrame(np.nan, index=list(models), columns=columns),
                {"tokenizers": origin, "measured": sorted(tokenizers), "compression": {},
                 "note": "fewer than 2 tokenizers on this machine: no mixture can be compared"})
    compression = compression_table(tokenizers, texts)
    shares = mixture_shares(compression).reindex(list(models))
    info = {"tokenizers": origin, "measured": sorted(tokenizers),
            "categories": {c: len(t) for c, t in texts.items()},
            "compression": compression.round(4).to_dict(orient="index")}
    return shares, info
