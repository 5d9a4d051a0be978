"""Export a trained run: `python -m rm_lab.export RUN_DIR OUT_DIR [--push-to-hub REPO]`.

    python -m rm_lab.export runs/.../seed_0/<time> exported/baseline-tiny     # Baseline, BaseLoRA: transformers
    python -m rm_lab.export RUN_DIR OUT_DIR --format run                       # any method: rm_lab folder
    python -m rm_lab.export RUN_DIR OUT_DIR --push-to-hub user/my-reward-model

Two formats (`--format auto`, the default: `transformers` for Baseline and BaseLoRA, refused with
the reason on a backbone without an exact mapping; `run` for the other methods):

- `transformers` (Baseline and BaseLoRA on a DeBERTa-v2/v3 backbone): a Hugging Face folder
  (config.json, model.safetensors, tokenizer files, README.md model card, manifest.json) that
  plain transformers loads, no custom code:

      model = AutoModelForSequenceClassification.from_pretrained(OUT_DIR)    # num_labels=1
      tok = AutoTokenizer.from_pretrained(OUT_DIR)                            # truncation_side=left
      reward = model(**tok(prompt, response, truncation=True, return_tensors="pt")).logits[:, 0]

  The logits are the run's rewards (fp32). Our reward model is encoder -> first token ->
  linear head; `DebertaV2ForSequenceClassification` is encoder -> ContextPooler (first token,
  dense, `pooler_hidden_act`) -> classifier, so the export sets the pooler's dense layer to the
  identity (bias 0) with `pooler_hidden_act="linear"` and the classifier to our head (the pooler
  adds hidden^2 + hidden parameters). BaseLoRA's adapters are merged into the backbone first
  (peft `merge_and_unload()` on a copy). The tokenizer keeps the run's left truncation and its
  max length (`model_max_length`). The export checks itself: the saved folder, loaded back
  through transformers, must give the run's rewards on a few probe pairs (max abs difference
  <= 1e-4, recorded in manifest.json), else nothing is written.
  Refused, with the reason (use `--format run` instead): BERT-family backbones (MiniLM,
  bert-*: `BertForSequenceClassification` applies the BERT pooler's tanh, which no weights make
  the identity; RoBERTa's head likewise), decoders (gpt2, llama, qwen2, gemma2: their `score`
  layer has no bias, our head has one, and they find the last token through pad_token_id where
  the run uses the attention mask), and any pooling other than the first token.
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

import argparse
import copy
import json
import shutil
import sys
import tempfile
from pathlib import Path

FORMATS = ("auto", "transformers", "run")
MANIFEST = "manifest.json"
TOLERANCE = 1e-4  # max abs difference allowed between the export's logits and the run's rewards
EXIT_USAGE = 2

# backbones whose model_type has an exact transformers classification head for our reward head
EXACT = {"deberta-v2": "DebertaV2ForSequenceClassification"}
ENCODER_TANH = {"bert": "BertForSequenceClassification", "roberta": "RobertaForSequenceClassification",
                "xlm-roberta": "XLMRobertaForSequenceClassification"}
DECODERS = ("gpt2", "llama", "qwen2", "gemma2", "gemma", "mistral")
EXPORTS = "DeBERTa-v2/v3 backbones (model_type deberta-v2: tiny-deberta, deberta-v3-xsmall/small/base/large)"

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
    from rm_lab.hub import HubUnavailable, offline_mode, require_hub

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
    from rm_lab.build import method_class
    from rm_lab.methods.base_lora import BaseLoRA
    from rm_lab.methods.baseline import BaselineRM

    return issubclass(method_class(cfg.method), (BaselineRM, BaseLoRA))


def transformers_refusal(cfg, model_type: str | None) -> str | None:
    """Why the run's reward model has no exact transformers export, or None when it has one."""
    method = cfg.method.get("name")
    if not single_model(cfg):
        return (f"method {method} is not one reward model on a backbone (only baseline and base_lora are); "
                "its parts load through rm_lab")
    kind, pooling = cfg.model.get("kind", "encoder"), cfg.model.get("pooling")
    if model_type in ENCODER_TANH:
        return (f"backbone {cfg.model.name} is model_type {model_type}: {ENCODER_TANH[model_type]} puts a pooler "
                "with a tanh (dense + tanh) between the first token's state and the classifier, while our reward "
                "head reads that state directly; tanh is not the identity for any weights, so no exact mapping "
                f"exists. Backbones that export to transformers: {EXPORTS}")
    if kind == "decoder" or model_type in DECODERS:
        return (f"backbone {cfg.model.name} is a decoder (model_type {model_type}): its *ForSequenceClassification "
                "scores the last non-padding token, found through pad_token_id, with a bias-free `score` layer; "
                "our reward head has a bias and finds the last token through the attention mask, so no exact "
                f"mapping exists. Backbones that export to transformers: {EXPORTS}")
    if model_type not in EXACT:
        return (f"backbone {cfg.model.name} (model_type {model_type}) has no exact transformers classification head "
                f"for our reward head. Backbones that export to transformers: {EXPORTS}")
    if (pooling or "first") != "first":
        return (f"the run pools with model.pooling={pooling}; {EXACT[model_type]} reads the first token only")
    if cfg.model.get("input_format", "pair") != "pair":
        return "the run reads input_format=chat; a transformers tokenizer call reproduces only the pair format"
    return None


# -- transformers format ------------------------------------------------------------------------
def transformers_model(module):
    """`DebertaV2ForSequenceClassification` holding the run's reward model exactly (see module doc)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    encoder, head = module.model.encoder, module.model.head.linear
    base = encoder.model
    if hasattr(base, "merge_and_unload"):  # peft: adapters merged into a copy
        base = copy.deepcopy(base).merge_and_unload()
    config = copy.deepcopy(base.config)
    model_type = config.model_type
    if model_type not in EXACT:
        raise ExportError(f"no exact transformers head for model_type {model_type}; exportable: {EXPORTS}")
    hidden = config.hidden_size
    config.num_labels = 1
    config.id2label, config.label2id = {0: "reward"}, {"reward": 0}
    config.architectures = [EXACT[model_type]]
    config.pooler_hidden_size = hidden
    config.pooler_hidden_act = "linear"  # transformers' ACT2FN["linear"] is the identity
    config.pooler_dropout = 0.0
    config.cls_dropout = 0.0
    model = AutoModelForSequenceClassification.from_config(config)
    state = {f"{model.base_model_prefix}.{k}": v for k, v in base.state_dict().items()}
    state["pooler.dense.weight"] = torch.eye(hidden, dtype=head.weight.dtype)
    state["pooler.dense.bias"] = torch.zeros(hidden, dtype=head.weight.dtype)
    state["classifier.weight"] = head.weight.detach().clone()
    state["classifier.bias"] = head.bias.detach().clone()
    model.load_state_dict(state, strict=True)
    return model.float().eval()


def export_tokenizer(backbone, folder: Path) -> None:
    """The run's tokenizer with its left truncation and max length saved in tokenizer_config.json."""
    tok = copy.deepcopy(backbone.tokenizer())
    tok.model_max_length = backbone.max_length
    tok.truncation_side, tok.padding_side = "left", "right"
    tok.save_pretrained(folder)
    path = folder / "tokenizer_config.json"  # make sure the settings travel whatever the version saves
    settings = json.loads(path.read_text()) if path.exists() else {}
    settings.update({"model_max_length": backbone.max_length, "truncation_side": "left", "padding_side": "right"})
    if "max_length" in settings:  # a call default some tokenizers ship (MiniLM: 128)
        settings["max_length"] = backbone.max_length
    path.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")


def exported_logits(folder: Path, pairs: list[tuple[str, str]]) -> list[float]:
    """The transformers folder's logits for (prompt, response) pairs, loaded as a user would."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).float().eval()
    tok = AutoTokenizer.from_pretrained(folder)
    out = []
    with torch.inference_mode():
        for prompt, response in pairs:
            enc = tok(prompt, response, truncation=True, return_tensors="pt")
            out.append(float(model(**enc).logits[0, 0]))
    return out


def check_transformers(folder: Path, scorer) -> float:
    """Max abs difference between the saved folder's logits and the run's rewards (fp32) on PROBES."""
    rows = [{"prompt": p, "response": r} for p, r in PROBES]
    mixed = scorer.mixed_precision
    scorer.mixed_precision = False
    try:
        expected = scorer.score_responses(rows)
    finally:
        scorer.mixed_precision = mixed
    got = exported_logits(folder, PROBES)
    diff = max(abs(a - b) for a, b in zip(got, expected, strict=True))
    if not diff <= TOLERANCE:
        raise ExportError(f"the exported model's logits differ from the run's rewards by {diff:.3g} "
                          f"(> {TOLERANCE}): the export was not written")
    return diff


def write_transformers(run_dir: Path, results: dict, cfg, folder: Path) -> dict:
    from rm_lab.scoring import load_reward_model

    scorer = load_reward_model(run_dir, device="cpu", progress=False)
    model = transformers_model(scorer.module)
    model.save_pretrained(folder)
    export_tokenizer(scorer.backbone, folder)
    diff = check_transformers(folder, scorer)
    return {"format": "transformers", "architecture": model.config.architectures[0],
            "parameters": sum(p.numel() for p in model.parameters()),
            "head": "ContextPooler dense = identity (bias 0), pooler_hidden_act = linear; classifier = reward head"
                    + ("; LoRA adapters merged" if cfg.method.get("name") == "base_lora" else ""),
            "check": {"probe_pairs": len(PROBES), "max_abs_diff": diff, "tolerance": TOLERANCE}}


# -- run format ---------------------------------------------------------------------------------
def backbone_weights(cfg, weights: Path, results: dict, run_dir: Path) -> str:
    """Where the loaded folder gets its backbone weights (see the module doc)."""
    from rm_lab.build import method_class

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
    if weights.name != MANIFEST:
        return "shipped in checkpoints/best.ckpt"
    stored = json.loads(weights.read_text())["components"]
    shared = cls.shared_names(None) if hasattr(cls, "shared_names") else []
    if all(name in stored for name in shared):
        return "shipped in components/"
    return rebuilt + " (the components hold the adapters and heads)"


def write_run(run_dir: Path, results: dict, cfg, folder: Path) -> dict:
    from rm_lab.results import RESULTS_NAME
    from rm_lab.scoring import COMPONENTS, stored_weights

    weights = stored_weights(run_dir, cfg, results)
    shutil.copy2(run_dir / RESULTS_NAME, folder / RESULTS_NAME)
    if weights.name == COMPONENTS.name:
        stored = json.loads(weights.read_text())["components"]
        (folder / COMPONENTS.parent).mkdir()
        for name in [COMPONENTS.name, *stored.values()]:
            shutil.copy2(weights.parent / name, folder / COMPONENTS.parent / name)
        files = [str(COMPONENTS.parent / n) for n in [COMPONENTS.name, *stored.values()]]
    else:
        relative = weights.relative_to(run_dir)
        (folder / relative).parent.mkdir(parents=True)
        shutil.copy2(weights, folder / relative)
        files = [str(relative)]
    return {"format": "run", "files": [RESULTS_NAME, *files],
            "backbone_weights": backbone_weights(cfg, weights, results, run_dir)}


# -- model card ---------------------------------------------------------------------------------
def model_card(results: dict, cfg, manifest: dict) -> str:
    from rm_lab.results import average_accuracy, domain_rows, method_label

    method = method_label(results) or results.get("method")
    model = cfg.model
    lines = ["---", "library_name: transformers" if manifest["format"] == "transformers" else "library_name: rm_lab",
             "tags:", "- reward-model", "- rm_lab", "---", "",
             f"# {method} reward model on {model.name}", "",
             f"- Method: {method} (`method={results.get('method')}`)",
             (f"- Backbone: {model.name} (source `{model.get('source')}`, "
              f"{'pretrained' if model.get('pretrained', True) else 'built from config, random initial weights'}), "
              f"max length {model.get('max_length')}, input format {model.get('input_format', 'pair')}"),
             f"- Data: {results.get('dataset')}; training pairs per domain: "
             + ", ".join(f"{d} {c['pairs'].get('train', 0)}" for d, c in (results.get("data") or {}).items()
                         if isinstance(c, dict) and (c.get("pairs") or {}).get("train")),
             f"- Seed: {results.get('seed')}",
             f"- Training precision: {(cfg.get('trainer') or {}).get('precision')}",
             f"- Experiment: {results.get('experiment')}", "",
             "## Test accuracy (strict pairwise: reward(chosen) > reward(rejected); ties counted apart)", "",
             "| domain | accuracy | won | tied | lost | pairs |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for domain, row in domain_rows(results).items():
        lines.append(f"| {domain} | {row['accuracy']:.4f} | {row['won']} | {row['tied']} | {row['lost']} | {row['n']} |")
    average = average_accuracy(results)
    lines += ["", f"Average over domains: {'-' if average is None else f'{average:.4f}'}", "", "## Use", ""]
    if manifest["format"] == "transformers":
        lines += ["```python", "import torch",
                  "from transformers import AutoModelForSequenceClassification, AutoTokenizer", "",
                  "model = AutoModelForSequenceClassification.from_pretrained(PATH).eval()",
                  "tok = AutoTokenizer.from_pretrained(PATH)  # truncation from the left, max length kept",
                  "with torch.no_grad():",
                  "    reward = model(**tok(prompt, response, truncation=True, return_tensors='pt')).logits[0, 0]",
                  "```", "",
                  (f"The head: {manifest['head']}. The logits are the run's rewards (checked on "
                   f"{manifest['check']['probe_pairs']} probe pairs: max abs difference "
                   f"{manifest['check']['max_abs_diff']:.2e} in fp32).")]
    else:
        lines += ["```python", "import rm_lab", "", "scorer = rm_lab.load_reward_model(PATH)",
                  "scorer.score_pairs([{'prompt': '...', 'chosen': '...', 'rejected': '...'}])",
                  "```", "", f"Backbone weights: {manifest['backbone_weights']}."]
    return "\n".join(lines) + "\n"


# -- the export ---------------------------------------------------------------------------------
def export(run_dir: str | Path, out_dir: str | Path, fmt: str = "auto", push_to_hub: str | None = None) -> Path:
    """Export the completed run at `run_dir` to `out_dir` (see the module doc); returns out_dir."""
    from omegaconf import OmegaConf

    from rm_lab.scoring import completed_results, run_folder

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    out = check_out_dir(out_dir)
    if push_to_hub:
        check_hub(push_to_hub)
    run_dir = run_folder(run_dir)
    results = completed_results(run_dir)
    cfg = OmegaConf.create(results["config"])
    if fmt == "auto":
        fmt = "transformers" if single_model(cfg) else "run"
    if fmt == "transformers":
        from rm_lab.build import build_backbone

        why = transformers_refusal(cfg, getattr(build_backbone(cfg).config(), "model_type", None))
        if why:
            raise ExportError(f"cannot export {run_dir} to transformers: {why}. Use --format run for a folder "
                              "that rm_lab.load_reward_model loads")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        write = write_transformers if fmt == "transformers" else write_run
        manifest = write(run_dir, results, cfg, staging)
        from rm_lab import __version__

        manifest = {**manifest, "method": results.get("method"), "backbone": cfg.model.name,
                    "backbone_source": cfg.model.get("source"), "dataset": results.get("dataset"),
                    "seed": results.get("seed"), "rm_lab": __version__, "exported_from": str(run_dir)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        (staging / "README.md").write_text(model_card(results, cfg, manifest))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="folder of a completed run (holds results.json)")
    parser.add_argument("out_dir", help="where to write the export (must not exist, or be empty)")
    parser.add_argument("--format", default="auto", choices=FORMATS,
                        help="transformers (Baseline/BaseLoRA on DeBERTa), run (any method), auto (default: "
                             "transformers for Baseline/BaseLoRA, run for the others)")
    parser.add_argument("--push-to-hub", metavar="REPO", help="upload the folder to this hub model repository")
    args = parser.parse_args(argv)

    from rm_lab.hub import HubUnavailable

    try:
        out = export(args.run_dir, args.out_dir, args.format, args.push_to_hub)
    except (OSError, ValueError, HubUnavailable, ImportError) as err:
        print(f"python -m rm_lab.export: {err}", file=sys.stderr)
        return EXIT_USAGE
    manifest = json.loads((out / MANIFEST).read_text())
    how = ("AutoModelForSequenceClassification.from_pretrained" if manifest["format"] == "transformers"
           else "rm_lab.load_reward_model")
    print(f"exported {manifest['method']} on {manifest['backbone']} to {out} (format {manifest['format']}): "
          f"load it with {how}({str(out)!r})" + (f"; pushed to {args.push_to_hub}" if args.push_to_hub else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
