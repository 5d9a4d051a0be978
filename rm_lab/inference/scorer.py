"""A trained reward model scored outside its run.

    import rm_lab
    scorer = rm_lab.load_reward_model("runs/default/baseline/minilm-l6/five_domains_sample/seed_0/<time>")
    scorer.score_pairs([{"prompt": "...", "chosen": "...", "rejected": "..."}])   # [(r_chosen, r_rejected)]
    scorer.score_responses([{"prompt": "...", "response": "..."}])              # [reward]

    python -m rm_lab.score RUN_DIR FILE --out scores.jsonl     # the same from the command line

What is loaded. RUN_DIR is the folder of a completed run (`results.json`, written by
`python -m rm_lab`), or a portable copy of one written by `python -m rm_lab.export RUN_DIR
OUT_DIR --format run` (the same files plus `manifest.json`; a transformers export loads with
transformers instead). Its method is rebuilt from the resolved config stored in results.json with
the runner's builders (`rm_lab.runner.build`), over the run's domains in config order (the keys of
results.json `data`, which are the datamodule's expanded domains), prepared with the run's
pair counts (`RecordedData`: routers cover the domains that had training pairs). Then:
- methods that store a whole checkpoint (`checkpoint_whole`: baseline, base_lora, more, the
  embedding heads) load `RUN_DIR/checkpoints/best.ckpt`, the weights the test set was scored
  with;
- composite methods (rodos, arliss) load every stored component from `RUN_DIR/components/`
  through their own reuse path (`method.reuse_components=RUN_DIR`, `method.retrain=[]`).
A run that cannot be scored (not completed, trained nothing, stored no weights, an older
results.json) fails with `ModelLoadError` (or `FileNotFoundError`) saying what is missing.

How texts are scored. Each text is tokenized as the run's datamodule tokenizes it: the
backbone's tokenizer, `rm_lab.data.render.encode` in the backbone's `input_format` (pair or
chat), its `max_length`, truncation from the left; prompts alone through `encode_prompt` (what
routers read). Pairs are sorted by token length, batched (`batch_size` pairs, by default the
run's `dataset.eval_batch_size`) and put back in input order; each batch has the
`rm_lab.data.batch.PairBatch` shape (chosen rows, then rejected rows; the prompts alone) and
goes through the method's own `score(batch)` in eval mode, without gradients, under the run's
mixed precision (`trainer.precision`), as in its test step. Single responses are scored in pairs of two
responses to the same prompt (one alone is paired with itself), so routers see one prompt per
pair. The batch's `domain` (the gold domain, which only test bookkeeping reads) is 0. A prompt
or response may also be a list of chat messages (TRL's conversational prompts and completions;
`rm_lab.data.render.render` says how each format reads them), and `score_texts` scores whole
conversations already in the chat template's text (a remote reward model's queries).

Embedding heads (`method=embedding_*`): every distinct token sequence is embedded by the
frozen backbone through `rm_lab.models.embedder.Embedder` with the run's `method.embed` options
(`init_seed` rebuilds the same random-weight embedder), under the same cache key as the run's
data build step (`rm_lab.runner.build.embed_data`): sequences the run embedded are read from its
cache (`dataset.cache_dir`, `embeddings/<model key>/<dataset>-len<max_length>-<pooling>.pt`; a
relative cache_dir is read from the current folder); the others are embedded and kept in memory
only, the run's cache file is never written. The heads then score a `VectorBatch` of the
vectors, `batch_size` pairs at a time (by default the run's `method.eval_batch_size`).
"""
from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from rm_lab.core.safe_weights import load_weights
from rm_lab.data.batch import PairBatch, VectorBatch, pair_batch
from rm_lab.data.embedding_cache import EmbeddingCache, sequence_key
from rm_lab.data.pairs import MalformedRow, require_text
from rm_lab.data.render import encode, encode_prompt, encode_rendered
from rm_lab.models.backbone import Backbone
from rm_lab.models.embedder import Embedder
from rm_lab.rundir.finished import ModelLoadError as ModelLoadError  # what load_reward_model raises
from rm_lab.rundir.finished import completed_results, run_config, run_folder, stored_weights
from rm_lab.rundir.layout import RunDir
from rm_lab.runner.build import build_backbone, build_method, method_class, stores_whole

PRECISIONS = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


# -- the run -----------------------------------------------------------------------------------
class RecordedData:
    """What `prepare()` reads of the `PairData` protocol, answered from results.json `data`:
    the run's pairs per domain and split (routers cover the domains that had training pairs)."""

    def __init__(self, counts: dict):
        self._pairs = {d: dict(c.get("pairs") or {}) for d, c in counts.items()}

    @property
    def domain_names(self) -> list[str]:
        return list(self._pairs)

    def num_pairs(self, split: str) -> int:
        return sum(int(pairs.get(split, 0)) for pairs in self._pairs.values())

    def domains_with_pairs(self, split: str) -> list[str]:
        return [d for d, pairs in self._pairs.items() if pairs.get(split, 0)]


def _load_method(whole: bool, weights: Path, run_dir: Path, cfg: DictConfig, results: dict, backbone: Backbone):
    """The run's method, rebuilt and holding the weights it was tested with."""
    data = RecordedData(results["data"])
    domains = data.domain_names
    if not whole:  # every stored component, through the method's reuse path
        node = OmegaConf.merge(cfg.method, {"reuse_components": str(run_dir), "retrain": [],
                                            "save_components": False})
        return build_method(node, data=data, backbone=backbone, domains=domains)
    vectors = getattr(method_class(cfg.method), "inputs", "tokens") == "vectors"
    extra = {"input_dim": backbone.hidden_size} if vectors else {}
    module = build_method(cfg.method, data=data, backbone=backbone, domains=domains, **extra)
    module.load_state_dict(load_weights(weights)["state_dict"])
    return module


def scoring_device(device: str | torch.device | None = None) -> torch.device:
    """Where to score: `device`, or cuda when available, else cpu. ValueError, before any weights
    load, for a device this torch cannot name or this machine does not have."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {device!r} is not a device torch knows ({err}); give cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device} asked for, but this machine shows no CUDA GPU (torch {torch.__version__}): "
                             "give device cpu, or leave the device out")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {device} asked for, but this machine shows {count} CUDA GPU(s): cuda:0 to "
                             f"cuda:{count - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device} asked for, but this machine has no MPS backend: give device cpu")
    return device


def load_reward_model(path: str | Path, device: str | torch.device | None = None, batch_size: int | None = None,
                      progress: bool = True) -> RewardScorer:
    """The reward model of a completed run, ready to score (see the module's docstring).

    path: the run folder (or its results.json). device: where to score (default: cuda when
    available, else cpu). batch_size: pairs per batch (default: the run's
    dataset.eval_batch_size; embedding heads: method.eval_batch_size). progress: tqdm bars while
    scoring."""
    device = scoring_device(device)  # a device this machine lacks is said before anything loads
    run_dir = run_folder(path)
    results = completed_results(run_dir)
    cfg = run_config(results, RunDir(run_dir).results)  # a target rm_lab does not build is refused here
    whole = stores_whole(cfg.method)
    weights = stored_weights(run_dir, cfg, results, whole)  # before anything is built
    backbone = build_backbone(cfg)
    backbone.tokenizer()  # loaded first: a stand-in tokenizer may change the input format
    module = _load_method(whole, weights, run_dir, cfg, results, backbone)
    module.to(device).eval()
    run_size = cfg.method.get("eval_batch_size") if module.inputs == "vectors" else cfg.dataset.get("eval_batch_size")
    size = int(batch_size or run_size or 32)
    return RewardScorer(module, backbone, cfg, results, run_dir, device, size, progress)


# -- tokens ------------------------------------------------------------------------------------
def _texts(rows: Iterable, fields: tuple[str, ...]) -> dict[str, list[str]]:
    """Columns of the rows' text fields (`_text_or_messages`); a row that lacks one fails naming it."""
    out: dict[str, list[str]] = {f: [] for f in fields}
    for i, row in enumerate(rows):
        if hasattr(row, "to_dict"):
            row = row.to_dict()
        if not isinstance(row, Mapping):
            raise TypeError(f"row {i} cannot be scored: expected a mapping with {list(fields)}, "
                             f"got {type(row).__name__}")
        try:
            for f in fields:
                out[f].append(_text_or_messages(row, f))
        except MalformedRow as err:
            raise ValueError(f"row {i} cannot be scored: {err}") from None
    return out


def _text_or_messages(row: Mapping, field: str) -> str | list[dict]:
    """A row's text field: a text (a prompt or a single response may be empty, as a policy's
    completion can be; a pair's chosen and rejected may not) or, as TRL's conversational prompts
    and completions are, a list of chat messages {role, content}."""
    value = row.get(field)
    if isinstance(value, (list, tuple)) and value and all(isinstance(m, Mapping) and "role" in m for m in value):
        return [dict(m) for m in value]
    return require_text(row, field, allow_empty=field in ("prompt", "response"))


def _prompt_key(prompt: str | list[dict]) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, default=str)


def encode_texts(backbone: Backbone, prompts: list[str], responses: list[str]) -> tuple[list, list | None]:
    """Token ids (and token type ids, where the tokenizer gives them) of each (prompt,
    response), as the run's datamodule encodes a pair's side."""
    if not prompts:
        return [], None
    enc = encode(backbone.tokenizer(), prompts, responses, backbone.input_format, backbone.max_length)
    return list(enc["input_ids"]), (list(enc["token_type_ids"]) if "token_type_ids" in enc else None)


def encode_prompts(backbone: Backbone, prompts: list[str]) -> list:
    """Token ids of the prompts alone, as the run's datamodule encodes them for routers."""
    if not prompts:
        return []
    return list(encode_prompt(backbone.tokenizer(), prompts, backbone.input_format, backbone.max_length)["input_ids"])


class _Units:
    """Texts scored two at a time (a pair's chosen and rejected, or two responses to one prompt):
    `first[i]`, `second[i]` token ids (and types), `prompt[i]` the prompt's ids."""

    def __init__(self, prompt, first, first_types, second, second_types):
        self.prompt, self.first, self.second = prompt, first, second
        self.first_types, self.second_types = first_types, second_types

    def __len__(self) -> int:
        return len(self.first)

    def length(self, i: int) -> int:
        return max(len(self.first[i]), len(self.second[i]))


# -- scoring -----------------------------------------------------------------------------------
PRECISIONS_TO_SCORE = ("run", "fp32", "bf16", "int8")  # RewardScorer.set_precision, score --precision


class RewardScorer:
    """A run's trained reward model: `score_pairs(rows)`, `score_responses(rows)`."""

    def __init__(self, module, backbone: Backbone, cfg: DictConfig, results: dict, run_dir: Path,
                 device: torch.device, batch_size: int, progress: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.module, self.backbone, self.cfg, self.results = module, backbone, cfg, results
        self.run_dir, self.device, self.batch_size, self.progress = run_dir, device, batch_size, progress
        self.vectors = getattr(module, "inputs", "tokens") == "vectors"
        self.mixed_precision = True  # score under the run's trainer.precision; False: fp32 throughout
        self.autocast_dtype: torch.dtype | None = None  # set (torch.bfloat16): score under this autocast instead
        self._embedder: Embedder | None = None
        self._cache: EmbeddingCache | None = None

    def __repr__(self) -> str:
        return f"RewardScorer({self.method} on {self.backbone.name}, run {self.run_dir})"

    @property
    def method(self) -> str:
        return str(self.results.get("method"))

    @property
    def reads_prompts(self) -> bool:
        """Whether the method reads the prompts alone (a router does); others are not tokenized them twice."""
        return not self.vectors and bool(getattr(getattr(self.module, "capabilities", None), "routes", False))

    @property
    def domains(self) -> list[str]:
        return list(self.module.domains)

    # -- public ------------------------------------------------------------------------------
    def set_precision(self, precision: str) -> None:
        """Score at `precision` (PRECISIONS_TO_SCORE): run: the run's trainer.precision; fp32;
        bf16: bf16 autocast; int8: the backbone's linear layers in int8, in place (CPU only;
        rm_lab/models/int8.py raises ValueError where it does not apply)."""
        if precision not in PRECISIONS_TO_SCORE:
            raise ValueError(f"precision must be one of {PRECISIONS_TO_SCORE}, got {precision!r}")
        if precision == "bf16":
            self.autocast_dtype = torch.bfloat16
        elif precision == "int8":
            from rm_lab.models.int8 import quantize_backbones

            quantize_backbones(self.module)
        self.mixed_precision = precision in ("run", "bf16")

    @contextlib.contextmanager
    def in_fp32(self):
        """Score in fp32 inside the block (whatever the run's precision), as before it afterwards."""
        mixed, self.mixed_precision = self.mixed_precision, False
        try:
            yield self
        finally:
            self.mixed_precision = mixed

    def score_pairs(self, rows: Iterable) -> list[tuple[float, float]]:
        """(reward of chosen, reward of rejected) for each row {prompt, chosen, rejected} (a dict
        or a `Pair`), in input order."""
        cols = _texts(rows, ("prompt", "chosen", "rejected"))
        first, first_types = encode_texts(self.backbone, cols["prompt"], cols["chosen"])
        second, second_types = encode_texts(self.backbone, cols["prompt"], cols["rejected"])
        prompt = encode_prompts(self.backbone, cols["prompt"]) if self.reads_prompts else [[]] * len(first)
        return self._score(_Units(prompt, first, first_types, second, second_types), "pair", [1] * len(first))

    def score_responses(self, rows: Iterable) -> list[float]:
        """The reward of each row {prompt, response}, in input order."""
        cols = _texts(rows, ("prompt", "response"))
        ids, types = encode_texts(self.backbone, cols["prompt"], cols["response"])
        keys = [_prompt_key(p) for p in cols["prompt"]]
        return self._score_singles(ids, types, keys,
                                   lambda picked: encode_prompts(self.backbone, [cols["prompt"][i] for i in picked]))

    def score_texts(self, texts: list[str], prompts: list[str] | None = None) -> list[float]:
        """The reward of each whole conversation already written in the chat template's text (what
        an RLHF trainer sends a remote reward model: `rm_lab.data.render.encode_rendered`), in
        input order; chat-format models only. `prompts[i]`, the conversation's prompt in the
        template's text (with its generation prompt), is what a router reads; without prompts,
        each text stands for its own prompt."""
        if self.backbone.input_format != "chat":
            raise ValueError(f"score_texts takes whole chat texts, and this model reads the "
                             f"{self.backbone.input_format} format: score (prompt, response) rows with score_responses")
        if prompts is not None and len(prompts) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(prompts)} prompts: give one prompt per text, or none")
        if not texts:
            return []
        tok = self.backbone.tokenizer()
        ids = list(encode_rendered(tok, list(texts), self.backbone.max_length)["input_ids"])
        heads = list(prompts) if prompts is not None else list(texts)

        def prompt_ids(picked: list[int]) -> list:
            return list(tok([heads[i] for i in picked], truncation=True, max_length=self.backbone.max_length,
                            add_special_tokens=False)["input_ids"])

        return self._score_singles(ids, None, heads, prompt_ids)

    def _score_singles(self, ids: list, types: list | None, keys: list[str], prompt_ids) -> list[float]:
        """Rewards of single inputs, scored two at a time with another input of the same prompt
        (`keys[i]`; one alone is paired with itself); `prompt_ids(indices)` encodes their prompts."""
        by_prompt: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            by_prompt[key].append(i)
        couples = [(same[k], same[k + 1] if k + 1 < len(same) else same[k])
                   for same in by_prompt.values() for k in range(0, len(same), 2)]
        units = _Units(prompt_ids([a for a, _ in couples]) if self.reads_prompts and couples else [[]] * len(couples),
                       [ids[a] for a, _ in couples], None if types is None else [types[a] for a, _ in couples],
                       [ids[b] for _, b in couples], None if types is None else [types[b] for _, b in couples])
        rewards = [0.0] * len(keys)
        sizes = [1 if a == b else 2 for a, b in couples]
        for (a, b), (ra, rb) in zip(couples, self._score(units, "response", sizes)):
            rewards[a], rewards[b] = ra, rb
        return rewards

    # -- batches -----------------------------------------------------------------------------
    def _autocast(self):
        dtype = self.autocast_dtype or PRECISIONS.get(str(self.cfg.get("trainer", {}).get("precision")))
        if dtype is None or not self.mixed_precision:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _score(self, units: _Units, unit: str, sizes: list[int]) -> list[tuple[float, float]]:
        """Both rewards of every unit, in unit order; the bar counts `sizes[i]` inputs per unit."""
        if not len(units):
            return []
        vectors = self._embed(units) if self.vectors else None
        order = sorted(range(len(units)), key=lambda i: -units.length(i))  # longest first
        out: list[tuple[float, float]] = [(0.0, 0.0)] * len(units)
        bar = tqdm(total=sum(sizes), desc=f"scoring with {self.method}", unit=unit, disable=not self.progress)
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(order), self.batch_size):
                index = order[start:start + self.batch_size]
                batch = self._vector_batch(vectors, index) if vectors else self._pair_batch(units, index)
                chosen, rejected = self.module.split_rewards(self.module.score(batch).float().cpu())
                for i, c, r in zip(index, chosen.tolist(), rejected.tolist()):
                    out[i] = (c, r)
                bar.update(sum(sizes[i] for i in index))
        bar.close()
        return out

    def _pair_batch(self, units: _Units, index: list[int]) -> PairBatch:
        types = units.first_types is not None
        batch = pair_batch([units.first[i] for i in index], [units.second[i] for i in index],
                           [units.prompt[i] for i in index], self.backbone.tokenizer().pad_token_id,
                           [0] * len(index), [str(i) for i in index],
                           [units.first_types[i] for i in index] if types else None,
                           [units.second_types[i] for i in index] if types else None)
        return {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}

    def _vector_batch(self, vectors: tuple[torch.Tensor, torch.Tensor], index: list[int]) -> VectorBatch:
        first, second = vectors
        picked = torch.tensor(index, dtype=torch.long)
        return {"embeddings": torch.cat([first[picked], second[picked]]).to(self.device),
                "domain": torch.zeros(len(index), dtype=torch.long, device=self.device),
                "index": picked.to(self.device), "ids": [str(i) for i in index]}

    # -- embeddings (embedding heads) ----------------------------------------------------------
    def _embedding_cache(self) -> tuple[Embedder, EmbeddingCache]:
        if self._embedder is None:
            options = dict(self.cfg.method.get("embed") or {})
            self._embedder = Embedder(self.backbone, batch_size=options.get("batch_size", 32),
                                      init_seed=options.get("init_seed", 0), progress=self.progress)
            self._cache = EmbeddingCache(self.cfg.dataset.get("cache_dir"), self._embedder.key,
                                         self.cfg.dataset.name, self.backbone.max_length, self.backbone.pooling)
        return self._embedder, self._cache

    def _embed(self, units: _Units) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors of every unit's two texts: from the run's cache, else embedded (kept in memory)."""
        embedder, cache = self._embedding_cache()
        seqs = units.first + units.second
        types = None if units.first_types is None else units.first_types + units.second_types
        keys = [sequence_key(s, types[i] if types else None) for i, s in enumerate(seqs)]
        missing = cache.missing(keys)
        if missing:
            where = {k: i for i, k in reversed(list(enumerate(keys)))}
            todo = [where[k] for k in missing]
            cache.add(missing, embedder.embed([seqs[i] for i in todo], [types[i] for i in todo] if types else None))
        vectors = cache.get(keys)
        return vectors[: len(units)], vectors[len(units):]
