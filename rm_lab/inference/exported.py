"""Any trained reward model, ready to score: a run folder, a `--format run` export, or a transformers export.

    scorer = load_scorer(PATH)                       # what reward_function and the server score with
    scorer.score_responses([{"prompt": "...", "response": "..."}])     # texts or chat messages
    scorer.score_texts(["<|im_start|>user\\n...<|im_end|>"])          # chat-format models: whole rendered texts

A run folder or a `--format run` export loads through `rm_lab.load_reward_model` (every method:
Baseline, BaseLoRA, MoRE, RODOS, ARLISS, the embedding heads). A transformers export (Baseline
and BaseLoRA, `python -m rm_lab.export`) loads with transformers alone (`ExportScorer`): its
tokenizer encodes each (prompt, response) through `rm_lab.data.render` in the run's input format
(manifest.json `input_format`), truncated from the left at the run's max length (the tokenizer's
`model_max_length`), right-padded, and the reward is `logits[:, 0]` in fp32, which the export
checked against the run's rewards.
"""
from __future__ import annotations

from pathlib import Path

import torch

from rm_lab.data.render import encode, encode_rendered
from rm_lab.inference.scorer import _texts, load_reward_model, scoring_device
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.manifest import EXPORT_KIND, manifest_kind


def export_manifest(path: Path) -> dict | None:
    """The manifest of a transformers export at `path` (a folder without a results file), else None."""
    kind, manifest = manifest_kind(RunDir(path).export_manifest)
    return manifest if kind == EXPORT_KIND and manifest.get("format") == "transformers" else None


class ExportScorer:
    """A transformers export scored as its run scores (see the module doc): `score_responses(rows)`,
    `score_texts(texts, prompts)` (chat format)."""

    def __init__(self, folder: Path, manifest: dict, device: torch.device, batch_size: int):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.folder, self.manifest, self.device, self.batch_size = folder, manifest, device, batch_size
        # safetensors only (no pickled weights), and no code from the folder (trust_remote_code stays off)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, trust_remote_code=False).float().to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.input_format = manifest.get("input_format") or "pair"
        self.max_length = int(self.tokenizer.model_max_length)

    def __repr__(self) -> str:
        return f"ExportScorer({self.method} on {self.backbone_name}, export {self.folder})"

    @property
    def method(self) -> str:
        return str(self.manifest.get("method"))

    @property
    def backbone_name(self) -> str:
        return str(self.manifest.get("backbone"))

    def score_responses(self, rows) -> list[float]:
        cols = _texts(rows, ("prompt", "response"))
        enc = encode(self.tokenizer, cols["prompt"], cols["response"], self.input_format, self.max_length) \
            if cols["prompt"] else {"input_ids": []}
        return self._score(enc)

    def score_texts(self, texts: list[str], prompts: list[str] | None = None) -> list[float]:
        if self.input_format != "chat":
            raise ValueError(f"score_texts takes whole chat texts, and this model reads the {self.input_format} "
                             "format: score (prompt, response) rows with score_responses")
        return self._score(encode_rendered(self.tokenizer, list(texts), self.max_length) if texts else {"input_ids": []})

    def _score(self, enc) -> list[float]:
        """logits[:, 0] of every encoded input, longest first in right-padded batches, in input order."""
        ids = list(enc["input_ids"])
        types = list(enc["token_type_ids"]) if "token_type_ids" in enc else None
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = [0.0] * len(ids)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                index = order[start:start + self.batch_size]
                batch = self._batch([ids[i] for i in index], None if types is None else [types[i] for i in index])
                for i, reward in zip(index, self.model(**batch).logits[:, 0].float().cpu().tolist()):
                    out[i] = reward
        return out

    def _batch(self, ids: list, types: list | None) -> dict:
        """Right-padded tensors (pad_token_id, attention mask 0, token type 0), as a trainer pads."""
        width = max(len(row) for row in ids)
        pad = self.tokenizer.pad_token_id

        def padded(rows, value):
            return torch.tensor([list(row) + [value] * (width - len(row)) for row in rows], device=self.device)

        batch = {"input_ids": padded(ids, pad), "attention_mask": padded([[1] * len(row) for row in ids], 0)}
        if types is not None:
            batch["token_type_ids"] = padded(types, 0)
        return batch


def load_scorer(path: str | Path, device: str | torch.device | None = None, batch_size: int | None = None,
                progress: bool = False):
    """The reward model at `path` (a completed run's folder or results.json, or an export of
    either format), ready to score; the same errors as `rm_lab.load_reward_model` otherwise."""
    folder = Path(path).expanduser()
    manifest = export_manifest(folder) if folder.is_dir() and not RunDir(folder).results.exists() else None
    if manifest is None:
        return load_reward_model(folder, device=device, batch_size=batch_size, progress=progress)
    device = scoring_device(device)
    return ExportScorer(folder.resolve(), manifest, device, int(batch_size or 32))


def input_format(scorer) -> str:
    """The input format (pair or chat) a scorer's model reads."""
    backbone = getattr(scorer, "backbone", None)
    return backbone.input_format if backbone is not None else scorer.input_format


def describe(scorer) -> dict:
    """What a scorer holds, for a health route or a log line: method, backbone, input format, folder."""
    backbone = getattr(scorer, "backbone", None)
    folder = getattr(scorer, "run_dir", None) or getattr(scorer, "folder", None)
    return {"method": scorer.method, "backbone": backbone.name if backbone is not None else scorer.backbone_name,
            "input_format": input_format(scorer), "path": str(folder),
            "kind": "run" if backbone is not None else "transformers export"}

