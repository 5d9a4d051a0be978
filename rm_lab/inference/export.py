"""Export a trained run: `python -m rm_lab.export RUN_DIR OUT_DIR [--push-to-hub REPO]`.

    python -m rm_lab.export runs/.../seed_0/<time> exported/baseline-tiny     # Baseline, BaseLoRA: transformers
    python -m rm_lab.export RUN_DIR OUT_DIR --format run                       # any method: rm_lab folder
    python -m rm_lab.export RUN_DIR OUT_DIR --push-to-hub user/my-reward-model

Two formats (`--format auto`, the default: `transformers` for Baseline and BaseLoRA, refused with
the reason where the run has no exact mapping; `run` for the other methods):

- `transformers` (Baseline and BaseLoRA): a Hugging Face folder (config.json, model.safetensors,
  tokenizer files, README.md model card, manifest.json) that plain transformers loads, no custom code:

      model = AutoModelForSequenceClassification.from_pretrained(OUT_DIR)    # num_labels=1
      tok = AutoTokenizer.from_pretrained(OUT_DIR)                            # truncation_side=left
      reward = model(**tok(prompt, response, truncation=True, return_tensors="pt")).logits[:, 0]

  (chat-format runs: the exported chat template's text of the conversation with the response as the
  last assistant turn, tokenized with add_special_tokens=False; the model card shows it.) A chat
  export ships the run's template rewritten by `rm_lab.data.render.reward_template`, so that a
  finished conversation's text ends at EOS, where the reward is read: TRL's reward path
  (`reward_funcs=OUT_DIR`), which renders prompt + completion with that template, reads the run's
  text. config.json also holds what OpenRLHF's loader reads (`rm_lab.inference.reward_stats`):
  `value_head_prefix` "score" (decoders) and `mean`/`std` of the run's rewards on its training pairs.
  The model card (`rm_lab.inference.model_card`) gives the recipe and a snippet per consumer.
  The logits are the run's rewards (fp32). Each family trains the reward head (`model.head`, set
  in its conf/model file) that its transformers class holds exactly:
  * DeBERTa-v2/v3, `linear` (first token -> linear): `DebertaV2ForSequenceClassification` is
    encoder -> ContextPooler (first token, dense, `pooler_hidden_act`) -> classifier, so the pooler's
    dense is the identity (bias 0) with `pooler_hidden_act="linear"` and the classifier is our head
    (the pooler adds hidden^2 + hidden parameters).
  * BERT family (MiniLM, bert-*) and RoBERTa, `pooler` (first token -> the backbone's own pooler,
    dense and tanh -> linear): `BertForSequenceClassification` holds the same pooler and our head as
    its classifier; `RobertaForSequenceClassification` holds the pooler's dense as `classifier.dense`
    and our head as `classifier.out_proj`.
  * decoders (gpt2, llama with SmolLM2, qwen2, gemma, gemma2, mistral), `nobias` (last token ->
    linear without bias): `*ForSequenceClassification`'s `score` is our head; it reads the rightmost
    token that is not `pad_token_id`, the run reads the attention mask's last token, and they agree
    because the decoder's pad is a token no input ends with (never EOS, which ends every chat input:
    `rm_lab.models.backbone.decoder_pad_token`); the config carries that pad_token_id. A tokenizer
    without a spare special token (GPT-2) gets `<|pad|>` added in the export, with one embedding row.
  BaseLoRA's adapters are merged into the backbone first (peft `merge_and_unload()` on a copy). The
  tokenizer keeps the run's left truncation and its max length (`model_max_length`), and gives
  token_type_ids only where the run's model reads them. The export checks itself: the saved folder,
  loaded back through transformers, must give the run's rewards on a few probe pairs, one by one and
  as one right-padded batch (max abs difference <= 1e-4, recorded in manifest.json), else nothing
  is written. Refused, with the reason (use `--format run` instead): a reward head other than the
  family's (a run saved without `model.head` had `linear`: BERT's tanh and a decoder's bias-free
  `score` cannot hold it), a pooling other than the family's (first token; decoders: last), and
  model types without a mapping here.
- `run` (every method: MoRE, RODOS, ARLISS, the embedding heads, and Baseline/BaseLoRA on any
  backbone): a portable copy of what `rm_lab.load_reward_model` needs (results.json, then
  checkpoints/best.ckpt or components/) plus manifest.json and README.md.
  `rm_lab.load_reward_model(OUT_DIR)` gives the run's rewards. Backbone weights: whole
  checkpoints and RODOS components hold them, as do ARLISS components of a random-weight
  backbone; otherwise (ARLISS on a pretrained backbone, embedding heads) the backbone is rebuilt
  from its source (the packaged MiniLM, a hub id or a local folder, which must exist where the
  folder is loaded) or, built from config, from its seed. manifest.json says which.

OUT_DIR must not exist or be empty (an export never overwrites); it is written into a
temporary sibling folder and renamed at the end, so a failed export leaves nothing.
`--push-to-hub REPO` checks that the hub answers before anything is written, then uploads the
folder with huggingface_hub (`HF_TOKEN` or `huggingface-cli login`).
"""
from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

from rm_lab.core.io import plain_mode
from rm_lab.rundir.layout import RunDir
from rm_lab.rundir.results import versions

FORMATS = ("auto", "transformers", "run")
TOLERANCE = 1e-4  # max abs difference allowed between the export's logits and the run's rewards
EXIT_USAGE = 2

# model_type -> (the reward head design that maps exactly, the transformers class it maps onto)
EXACT = {"deberta-v2": ("linear", "DebertaV2ForSequenceClassification"),
         "bert": ("pooler", "BertForSequenceClassification"),
         "roberta": ("pooler", "RobertaForSequenceClassification"),
         "xlm-roberta": ("pooler", "XLMRobertaForSequenceClassification"),
         "gpt2": ("nobias", "GPT2ForSequenceClassification"),
         "llama": ("nobias", "LlamaForSequenceClassification"),
         "qwen2": ("nobias", "Qwen2ForSequenceClassification"),
         "gemma": ("nobias", "GemmaForSequenceClassification"),
         "gemma2": ("nobias", "Gemma2ForSequenceClassification"),
         "mistral": ("nobias", "MistralForSequenceClassification")}
POOLING = {"linear": "first", "pooler": "first", "nobias": "last"}  # the token each transformers head reads
EXPORTS = ("DeBERTa-v2/v3 with model.head=linear; BERT family (MiniLM, bert-*) and RoBERTa with model.head=pooler "
           "(their configs' default); decoders gpt2, llama (SmolLM2), qwen2, gemma, gemma2, mistral with "
           "model.head=nobias (their configs' default)")
WHY = {"pooler": "puts the pooler (first token, dense, tanh) between the first token's state and the classifier, "
                 "and no weights make tanh the identity",
       "nobias": "scores the last non-padding token with a bias-free `score` layer, and a bias cannot be mapped",
       "linear": "reads the first token's state through its ContextPooler, which maps our linear head exactly"}
PAD = "<|pad|>"  # the pad token an export adds to a decoder tokenizer that has no spare one (GPT-2)

PROBES = [  # (prompt, response): short, empty prompt, long enough to be truncated from the left
    ("How do I boil an egg?", "Put it in boiling water for nine minutes, then cool it in cold water."),
    ("", "A reply without a prompt."),
    ("Tell me about the history of the city. " * 60, "It was founded long ago. " * 40),
    ("\n\nHuman: What is 2+2?\n\nAssistant:", "4"),
]


class ExportError(ValueError):
    """A run that cannot be exported in the asked format; the message says why and what instead."""


# -- checks before anything is written ----------------------------------------------------------
def check_out_dir(out_dir: str | Path) -> Path:
    """OUT_DIR as a path; ExportError if it exists and is not an empty folder (never overwritten)."""
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        kind = "folder" if out.is_dir() else "file"
        raise ExportError(f"{out} already exists and is a non-empty {kind}: an export never overwrites; "
                          "give a new OUT_DIR (or remove that one yourself)")
    return out


def check_hub(repo: str) -> None:
    """Fail at once (HubUnavailable) when the hub cannot take the upload."""
    from rm_lab.core.hub import HubUnavailable, offline_mode, require_hub

    instead = (f"export without --push-to-hub, then upload OUT_DIR where the hub is reachable: "
               f"`huggingface-cli upload {repo} OUT_DIR`")
    if offline_mode():
        raise HubUnavailable(f"Cannot push to {repo}: offline mode is set (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE or "
                             f"HF_DATASETS_OFFLINE). Instead: {instead}. Nothing was written.")
    try:
        require_hub(f"the model repository {repo} (to push the export)", instead)
    except HubUnavailable as err:
        raise HubUnavailable(f"{err} Nothing was written.") from None


# -- which format ---------------------------------------------------------------------------------
def single_model(cfg) -> bool:
    """True for methods that are one reward model on a backbone (Baseline, BaseLoRA)."""
    from rm_lab.methods.base_lora import BaseLoRA
    from rm_lab.methods.baseline import BaselineRM
    from rm_lab.runner.build import method_class

    return issubclass(method_class(cfg.method), (BaselineRM, BaseLoRA))


def transformers_refusal(cfg, model_type: str | None) -> str | None:
    """Why the run's reward model has no exact transformers export, or None when it has one."""
    method = cfg.method.get("name")
    if not single_model(cfg):
        return (f"method {method} is not one reward model on a backbone (only baseline and base_lora are); "
                "its parts load through rm_lab")
    if model_type not in EXACT:
        return (f"backbone {cfg.model.name} (model_type {model_type}) has no exact transformers classification head "
                f"for our reward head. Backbones that export to transformers: {EXPORTS}")
    design, cls = EXACT[model_type]
    head = cfg.model.get("head") or "linear"  # runs saved before model.head existed had the linear head
    if head != design:
        return (f"the run's reward head is model.head={head}, while {cls} (backbone {cfg.model.name}, model_type "
                f"{model_type}) {WHY[design]}: retrain with model.head={design}. Backbones that export to "
                f"transformers: {EXPORTS}")
    pooling = cfg.model.get("pooling") or ("last" if cfg.model.get("kind") == "decoder" else "first")
    if pooling != POOLING[design]:
        token = "first token" if POOLING[design] == "first" else "last non-padding token"
        return f"the run pools with model.pooling={pooling}; {cls} reads the {token} only"
    return None


# -- transformers format ------------------------------------------------------------------------
def exported_tokenizer(backbone):
    """A copy of the run's tokenizer for the export: left truncation, its max length, and for a
    decoder a pad token no input ends with (the run's; `PAD` added where the tokenizer has no spare one)."""
    tok = copy.deepcopy(backbone.tokenizer())
    tok.model_max_length = backbone.max_length
    tok.truncation_side, tok.padding_side = "left", "right"
    if backbone.kind == "decoder" and tok.pad_token in (None, tok.eos_token, tok.bos_token):
        tok.add_special_tokens({"pad_token": PAD})
    return tok


def _base_state(base, prefix: str, skip: str | None = None) -> dict:
    return {f"{prefix}.{k}": v for k, v in base.state_dict().items() if not (skip and k.startswith(skip))}


def transformers_model(module, tok=None):
    """The `*ForSequenceClassification` holding the run's reward model exactly (see the module doc);
    `tok` is the exported tokenizer (a decoder's pad_token_id, and its size where a pad was added)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    encoder, head = module.model.encoder, module.model.head.linear
    base = encoder.model
    if hasattr(base, "merge_and_unload"):  # peft: adapters merged into a copy
        base = copy.deepcopy(base).merge_and_unload()
    config = copy.deepcopy(base.config)
    if "gguf" in str(getattr(getattr(config, "quantization_config", None), "quant_method", "")).lower():
        del config.quantization_config  # a GGUF (SmolLM2) is de-quantized on load: plain float weights
    model_type = config.model_type
    if model_type not in EXACT:
        raise ExportError(f"no exact transformers head for model_type {model_type}; exportable: {EXPORTS}")
    design, cls = EXACT[model_type]
    if (head.bias is None) != (design == "nobias") or encoder.pooler != (design == "pooler"):
        raise ExportError(f"the run's reward head does not match {cls}'s: exportable: {EXPORTS}")
    hidden = config.hidden_size if hasattr(config, "hidden_size") else config.n_embd
    config.num_labels = 1
    config.id2label, config.label2id = {0: "reward"}, {"reward": 0}
    config.architectures = [cls]
    weight = head.weight.detach().clone()
    if model_type == "deberta-v2":
        config.pooler_hidden_size = hidden
        config.pooler_hidden_act = "linear"  # transformers' ACT2FN["linear"] is the identity
        config.pooler_dropout = 0.0
        config.cls_dropout = 0.0
    if design == "nobias":
        config.pad_token_id = tok.pad_token_id
    model = AutoModelForSequenceClassification.from_config(config)
    prefix = model.base_model_prefix
    if model_type == "deberta-v2":
        state = _base_state(base, prefix)
        state["pooler.dense.weight"] = torch.eye(hidden, dtype=weight.dtype)
        state["pooler.dense.bias"] = torch.zeros(hidden, dtype=weight.dtype)
        state["classifier.weight"], state["classifier.bias"] = weight, head.bias.detach().clone()
    elif model_type == "bert":  # BertModel's own pooler is the run's; the classifier is our head
        state = _base_state(base, prefix)
        state["classifier.weight"], state["classifier.bias"] = weight, head.bias.detach().clone()
    elif design == "pooler":  # RoBERTa: the classification head holds the pooler's dense, then out_proj
        state = _base_state(base, prefix, skip="pooler.")
        state["classifier.dense.weight"] = base.pooler.dense.weight.detach().clone()
        state["classifier.dense.bias"] = base.pooler.dense.bias.detach().clone()
        state["classifier.out_proj.weight"], state["classifier.out_proj.bias"] = weight, head.bias.detach().clone()
    else:  # decoders: the base model, then `score` (no bias) on the last token that is not pad_token_id
        state = _base_state(base, prefix)
        state["score.weight"] = weight
    model.load_state_dict(state, strict=True)
    if design == "nobias" and len(tok) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok))  # an added pad: its row is read only at padding positions
    return model.float().eval()


def uses_token_types(model) -> bool:
    """Whether the model reads token_type_ids (the run's encoder passes them only then)."""
    return getattr(model.config, "type_vocab_size", 0) > 1


def save_tokenizer(tok, backbone, model, folder: Path) -> None:
    """The exported tokenizer, its left truncation and max length written in tokenizer_config.json."""
    names = [n for n in tok.model_input_names if n != "token_type_ids" or uses_token_types(model)]
    tok.model_input_names = names
    tok.save_pretrained(folder)
    path = RunDir(folder).tokenizer_config  # make sure the settings travel whatever the version saves
    settings = json.loads(path.read_text()) if path.exists() else {}
    settings.update({"model_max_length": backbone.max_length, "truncation_side": "left", "padding_side": "right",
                     "model_input_names": names})
    if "max_length" in settings:  # a call default some tokenizers ship (MiniLM: 128)
        settings["max_length"] = backbone.max_length
    path.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")


def exported_logits(folder: Path, pairs: list[tuple[str, str]], input_format: str = "pair") -> list[float]:
    """The transformers folder's logits for (prompt, response) pairs, loaded as a user would (the
    model card's recipe; chat: `rm_lab.data.render.chat_text`, which is that recipe): one pair at a
    time, then all of them as one right-padded batch; both lists, concatenated."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rm_lab.data.render import chat_text

    model = AutoModelForSequenceClassification.from_pretrained(folder).float().eval()
    tok = AutoTokenizer.from_pretrained(folder)

    def encode(prompts: list[str], responses: list[str], **kwargs) -> dict:
        if input_format == "chat":
            texts = [chat_text(tok, p, r) for p, r in zip(prompts, responses, strict=True)]
            return tok(texts, truncation=True, add_special_tokens=False, return_tensors="pt", **kwargs)
        return tok(prompts, responses, truncation=True, return_tensors="pt", **kwargs)

    with torch.inference_mode():
        out = [float(model(**encode([p], [r])).logits[0, 0]) for p, r in pairs]
        batch = encode([p for p, _ in pairs], [r for _, r in pairs], padding=True)
        out += [float(x) for x in model(**batch).logits[:, 0]]
    return out


def check_transformers(folder: Path, scorer) -> float:
    """Max abs difference between the saved folder's logits (one by one and batched) and the run's
    rewards (fp32) on PROBES."""
    rows = [{"prompt": p, "response": r} for p, r in PROBES]
    with scorer.in_fp32():
        expected = scorer.score_responses(rows)
    got = exported_logits(folder, PROBES, scorer.backbone.input_format)
    diff = max(abs(a - b) for a, b in zip(got, expected * 2, strict=True))
    if not diff <= TOLERANCE:
        raise ExportError(f"the exported model's logits differ from the run's rewards by {diff:.3g} "
                          f"(> {TOLERANCE}): the export was not written")
    return diff


HEADS = {"linear": "ContextPooler dense = identity (bias 0), pooler_hidden_act = linear; classifier = reward head",
         "bert": "BERT pooler (first token, dense, tanh) = the run's pooler; classifier = reward head",
         "pooler": "classifier.dense = the run's pooler dense (then tanh); classifier.out_proj = reward head",
         "nobias": "score = reward head (no bias), read at the last token that is not pad_token_id"}


def write_transformers(run_dir: Path, results: dict, cfg, folder: Path, stats_pairs: int | None = None) -> dict:
    from rm_lab.data.render import reward_template
    from rm_lab.inference.reward_stats import STATS_PAIRS, openrlhf_settings
    from rm_lab.inference.scorer import load_reward_model

    scorer = load_reward_model(run_dir, device="cpu", progress=False)
    tok = exported_tokenizer(scorer.backbone)
    if scorer.backbone.input_format == "chat":  # a finished conversation's text ends where the reward is read
        tok.chat_template = reward_template(tok.chat_template)
    model = transformers_model(scorer.module, tok)
    openrlhf = openrlhf_settings(model, scorer, cfg, STATS_PAIRS if stats_pairs is None else stats_pairs)
    model.save_pretrained(folder)
    save_tokenizer(tok, scorer.backbone, model, folder)
    diff = check_transformers(folder, scorer)
    design = EXACT[model.config.model_type][0]
    head = HEADS["bert" if model.config.model_type == "bert" else design]
    if design == "nobias":
        head += f" ({tok.pad_token!r}, id {tok.pad_token_id})"
    return {"format": "transformers", "architecture": model.config.architectures[0],
            "parameters": sum(p.numel() for p in model.parameters()), "input_format": scorer.backbone.input_format,
            "head": head + ("; LoRA adapters merged" if cfg.method.get("name") == "base_lora" else ""),
            "check": {"probe_pairs": len(PROBES), "max_abs_diff": diff, "tolerance": TOLERANCE},
            "max_length": scorer.backbone.max_length, "openrlhf": openrlhf}


# -- run format ---------------------------------------------------------------------------------
def backbone_weights(cfg, weights: Path, results: dict, run_dir: Path) -> str:
    """Where the loaded folder gets its backbone weights (see the module doc); `weights`: the
    run's stored weights (`stored_weights`: its best checkpoint or its components manifest)."""
    from rm_lab.rundir.manifest import ComponentsManifest
    from rm_lab.runner.build import method_class

    model = cfg.model
    cls = method_class(cfg.method)
    source = str(model.get("source"))
    rebuilt = (f"rebuilt from its source {source}" if model.get("pretrained", True)
               else "rebuilt from its config (random weights)")
    if getattr(cls, "inputs", "tokens") == "vectors":
        if not model.get("pretrained", True):
            seed = (cfg.method.get("embed") or {}).get("init_seed", 0)
            rebuilt = f"rebuilt from its config with random weights of seed {seed} (method.embed.init_seed)"
        return rebuilt + " (the embedding heads' checkpoint holds the heads only)"
    run = RunDir(run_dir)
    if weights != run.components_manifest:
        return f"shipped in {run.relative(weights)}"
    stored = ComponentsManifest.read(weights).components
    shared = cls.shared_names(None) if hasattr(cls, "shared_names") else []
    if all(name in stored for name in shared):
        return f"shipped in {run.relative(run.components)}/"
    return rebuilt + " (the components hold the adapters and heads)"


def write_run(run_dir: Path, results: dict, cfg, folder: Path) -> dict:
    from rm_lab.core.safe_weights import check_weights
    from rm_lab.rundir.components import ComponentStore
    from rm_lab.rundir.finished import stored_weights
    from rm_lab.runner.build import stores_whole

    run, out = RunDir(run_dir), RunDir(folder)
    weights = stored_weights(run_dir, cfg, results, stores_whole(cfg.method))
    shutil.copy2(run.results, out.results)
    if weights == run.components_manifest:
        parts = list(ComponentStore(run.components).stored().values())
        for name in parts:  # weights only, before anything is copied (a planted pickle is refused)
            check_weights(run.components / name)
        names = [RunDir.MANIFEST, *parts]
        out.components.mkdir()
        for name in names:
            shutil.copy2(run.components / name, out.components / name)
        files = [str(run.relative(run.components / n)) for n in names]
    else:
        check_weights(weights)  # weights only, before it is copied (a planted pickle is refused)
        relative = run.relative(weights)
        (folder / relative).parent.mkdir(parents=True)
        shutil.copy2(weights, folder / relative)
        files = [str(relative)]
    return {"format": "run", "files": [str(run.relative(run.results)), *files],
            "backbone_weights": backbone_weights(cfg, weights, results, run_dir)}


# -- the export ---------------------------------------------------------------------------------
def export(run_dir: str | Path, out_dir: str | Path, fmt: str = "auto", push_to_hub: str | None = None,
           stats_pairs: int | None = None) -> Path:
    """Export the completed run at `run_dir` to `out_dir` (see the module doc); returns out_dir.
    stats_pairs: training pairs the transformers format's reward mean/std are taken over
    (`rm_lab.inference.reward_stats`; None: its STATS_PAIRS, 0: all)."""
    from rm_lab.rundir.finished import completed_results, run_config, run_folder
    from rm_lab.rundir.manifest import EXPORT_KIND, write_manifest

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    out = check_out_dir(out_dir)
    if push_to_hub:
        check_hub(push_to_hub)
    run_dir = run_folder(run_dir)
    results = completed_results(run_dir)
    cfg = run_config(results, RunDir(run_dir).results)  # a target rm_lab does not build is refused here
    if fmt == "auto":
        fmt = "transformers" if single_model(cfg) else "run"
    if fmt == "transformers":
        from rm_lab.runner.build import build_backbone

        why = transformers_refusal(cfg, getattr(build_backbone(cfg).config(), "model_type", None))
        if why:
            raise ExportError(f"cannot export {run_dir} to transformers: {why}. Use --format run for a folder "
                              "that rm_lab.load_reward_model loads")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        plain_mode(staging, folder=True)  # shared like any folder the user makes, not mkdtemp's 0o700
        if fmt == "transformers":
            manifest = write_transformers(run_dir, results, cfg, staging, stats_pairs)
        else:
            manifest = write_run(run_dir, results, cfg, staging)
        manifest = {**manifest, "method": results.get("method"), "backbone": cfg.model.name,
                    "backbone_source": cfg.model.get("source"), "dataset": results.get("dataset"),
                    "seed": results.get("seed"), "rm_lab": versions()["rm_lab"], "exported_from": str(run_dir)}
        write_manifest(RunDir(staging).export_manifest, EXPORT_KIND, manifest)
        from rm_lab.inference.model_card import card_example, model_card

        RunDir(staging).model_card.write_text(model_card(results, cfg, manifest, card_example(cfg, staging, manifest)))
        check_out_dir(out)  # nobody wrote there meanwhile
        if out.exists():
            out.rmdir()  # empty: replaced by the finished export
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if push_to_hub:
        push(out, push_to_hub)
    return out


def push(folder: Path, repo: str) -> None:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message="Upload reward model exported by rm_lab")
