"""The README.md model card of an export: the run's recipe, its test accuracy, and how each consumer
uses it (transformers, TRL, OpenRLHF, the reward server), each with a snippet that runs as written
once the placeholder `path/to/this/folder` is the folder (tests/test_model_card.py runs them)."""
from __future__ import annotations

import json

from rm_lab.rundir.layout import RunDir

PLACEHOLDER = "path/to/this/folder"
EXAMPLE_PROMPT = "How do I boil an egg?"
EXAMPLE_RESPONSES = ("Boil it for nine minutes, then cool it in cold water.", "Eggs cannot be boiled.")
PORT = 5000


def example_request(tokenizer, input_format: str) -> dict:
    """The body the card's server snippet posts: chat, the conversation in the chat template's
    text (ending at EOS) and its prompt with the generation prompt; pair, prompt + response and the prompt."""
    from rm_lab.data.render import chat_text

    user = [{"role": "user", "content": EXAMPLE_PROMPT}]
    if input_format == "chat":
        return {"query": [chat_text(tokenizer, user, r) for r in EXAMPLE_RESPONSES],
                "prompts": [chat_text(tokenizer, user)] * len(EXAMPLE_RESPONSES)}
    return {"query": [f"{EXAMPLE_PROMPT} {r}" for r in EXAMPLE_RESPONSES], "prompts": [EXAMPLE_PROMPT] * 2}


# -- the recipe ----------------------------------------------------------------------------------
def _lrs(method) -> str:
    rates = [(k, method.get(k)) for k in method if str(k).endswith("lr") and method.get(k) is not None]
    return ", ".join(f"{v} (`method.{k}`)" for k, v in rates) or "-"


def recipe(results: dict, cfg, exported_with: str) -> list[str]:
    """The run's recipe as a table, then its pairs per domain and split."""
    from rm_lab.rundir.results import method_label

    model, method, data = cfg.model, cfg.method, cfg.dataset
    vectors = "epochs" in method  # the embedding heads fit their own epochs and batches
    epochs = method.get("epochs") if vectors else (cfg.get("trainer") or {}).get("max_epochs")
    batch = method.get("batch_size") if vectors else data.get("batch_size")
    fmt = model.get("input_format", "pair")
    weights = ("pretrained" if model.get("pretrained", True) else "built from config, random initial weights")
    rows = [("method", f"{method_label(results) or results.get('method')} (`method={results.get('method')}`)"),
            ("backbone", f"{model.name} (source `{model.get('source')}`, {weights}); reward head "
                         f"`model.head={model.get('head') or 'linear'}`"),
            ("input", f"{fmt} format; max length {model.get('max_length')} tokens, longer inputs truncated from "
                      "the left (the prompt's start is cut)"),
            ("learning rate", _lrs(method)),
            ("epochs", epochs), ("batch size", f"{batch} pairs"),
            ("weight decay", method.get("weight_decay", "-")), ("warm-up steps", method.get("warmup_steps", "-")),
            ("training precision", (cfg.get("trainer") or {}).get("precision")),
            ("seed", results.get("seed")), ("data", f"{results.get('dataset')} (`dataset={data.get('name')}`)"),
            ("rm_lab", f"trained with {(results.get('versions') or {}).get('rm_lab', '?')}, exported with "
                       f"{exported_with}"),
            ("experiment", results.get("experiment"))]
    lines = ["## Recipe", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", f"Pairs per domain (after cleaning; the rows dropped and why are in {RunDir.RESULTS} `data`):", "",
              "| domain | train | validation | test |", "| --- | ---: | ---: | ---: |"]
    for domain, counts in (results.get("data") or {}).items():
        pairs = (counts or {}).get("pairs") or {}
        if any(pairs.values()):
            lines.append(f"| {domain} | {pairs.get('train', 0)} | {pairs.get('validation', 0)} | {pairs.get('test', 0)} |")
    return lines + [""]


def accuracy(results: dict) -> list[str]:
    from rm_lab.rundir.results import average_accuracy, domain_rows

    lines = ["## Test accuracy (strict pairwise: reward(chosen) > reward(rejected); ties counted apart)", "",
             "| domain | accuracy | won | tied | lost | pairs |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for domain, row in domain_rows(results).items():
        lines.append(f"| {domain} | {row['accuracy']:.4f} | {row['won']} | {row['tied']} | {row['lost']} | {row['n']} |")
    average = average_accuracy(results)
    return lines + ["", f"Average over domains: {'-' if average is None else f'{average:.4f}'}", ""]


# -- the snippets --------------------------------------------------------------------------------
def _messages_code() -> list[str]:
    return [f"messages = [{{'role': 'user', 'content': {EXAMPLE_PROMPT!r}}},",
            f"            {{'role': 'assistant', 'content': {EXAMPLE_RESPONSES[0]!r}}}]"]


def transformers_use(manifest: dict) -> list[str]:
    chat = manifest.get("input_format") == "chat"
    lines = ["### transformers", "", "```python", "import torch",
             "from transformers import AutoModelForSequenceClassification, AutoTokenizer", "",
             f"MODEL = {PLACEHOLDER!r}  # this folder, or its hub repository id",
             "model = AutoModelForSequenceClassification.from_pretrained(MODEL).eval()",
             "tok = AutoTokenizer.from_pretrained(MODEL)  # truncates from the left at the run's max length"]
    if chat:
        lines += [*_messages_code(),
                  "text = tok.apply_chat_template(messages, tokenize=False)  # ends with EOS, where the reward is read",
                  "with torch.no_grad():",
                  "    enc = tok(text, add_special_tokens=False, truncation=True, return_tensors='pt')",
                  "    reward = model(**enc).logits[0, 0].item()", "print(reward)", "```", "",
                  ("The chat template shipped here ends a finished conversation with EOS, the token the reward "
                   "reads (the run's rendering, `rm_lab.data.render.chat_text`); responses are read as given, "
                   "never stripped. The training data's HH-RLHF dialogues (\"\\n\\nHuman: ...\\n\\nAssistant:\") were "
                   "split into turns by `rm_lab.data.render.to_messages`. Batches pad on the right with the pad "
                   "token, which no input ends with."), ""]
    else:
        lines += ["with torch.no_grad():",
                  f"    enc = tok({EXAMPLE_PROMPT!r}, {EXAMPLE_RESPONSES[0]!r}, truncation=True, return_tensors='pt')",
                  "    reward = model(**enc).logits[0, 0].item()", "print(reward)", "```", ""]
    check = manifest.get("check") or {}
    lines += [(f"The head: {manifest.get('head')}. The logits are the run's rewards (checked on "
               f"{check.get('probe_pairs')} probe pairs, one by one and as a padded batch: max abs difference "
               f"{check.get('max_abs_diff', float('nan')):.2e} in fp32)."), ""]
    return lines


def trl_use(manifest: dict, cfg) -> list[str]:
    fmt, length = manifest.get("input_format") or cfg.model.get("input_format", "pair"), cfg.model.get("max_length")
    lines = ["### TRL (GRPOTrainer, RLOOTrainer)", "", "```python", "import rm_lab", "",
             f"MODEL = {PLACEHOLDER!r}",
             "reward = rm_lab.reward_function(MODEL)  # TRL's reward_funcs signature: reward(prompts, completions, **kw)",
             f"prompts = [[{{'role': 'user', 'content': {EXAMPLE_PROMPT!r}}}]] * 2",
             f"completions = [[{{'role': 'assistant', 'content': {EXAMPLE_RESPONSES[0]!r}}}],",
             f"               [{{'role': 'assistant', 'content': {EXAMPLE_RESPONSES[1]!r}}}]]",
             "print(reward(prompts=prompts, completions=completions))  # the run's rewards; text prompts work too",
             "# from trl import GRPOConfig, GRPOTrainer",
             "# trainer = GRPOTrainer(model=POLICY, reward_funcs=reward, args=GRPOConfig(...), train_dataset=DATASET)",
             "```", ""]
    truncation = (f"TRL does not truncate: an input over {length} tokens (template included) is read whole where "
                  "the run cut it from the left, so keep max_prompt_length + max_completion_length within it, or "
                  "use `rm_lab.reward_function`, which truncates as in training.")
    if manifest.get("format") != "transformers":
        lines.append("This folder loads through rm_lab only: `rm_lab.reward_function` is its way into TRL.")
    elif fmt == "chat":
        lines.append("TRL's own reward-model path, `reward_funcs=MODEL`, gives the same rewards for conversational "
                     "prompts: TRL renders prompt + completion with this folder's chat template, whose text ends at "
                     "EOS where the reward is read, tokenizes it without special tokens and pads on the right. "
                     + truncation)
    elif (manifest.get("openrlhf") or {}).get("value_head_prefix"):  # a decoder (OpenRLHF's value head) in pair format
        lines.append("TRL's own reward-model path, `reward_funcs=MODEL`, gives the same rewards for text prompts "
                     "wherever prompt + completion, which TRL tokenizes as one text, splits into the prompt's tokens "
                     "then the completion's, as the run's tokenizer(prompt, response) does: HH-RLHF prompts ending "
                     "\"Assistant:\" with completions starting with a space do; texts that need a space between "
                     "them (HellaSwag's) do not. Conversational prompts need `rm_lab.reward_function`, which reads "
                     "them as HH-RLHF dialogues. " + truncation)
    else:
        lines.append("TRL's built-in reward-model path (`reward_funcs=MODEL`) cannot give this model's rewards: it "
                     "tokenizes prompt + completion as one text without special tokens, while this model reads "
                     "`[CLS] prompt [SEP] completion [SEP]` (with token type ids where it has them), and for "
                     "conversational prompts it needs a chat template, which this tokenizer has not. Pass "
                     "`rm_lab.reward_function(MODEL)` as above.")
    return lines + [""]


def openrlhf_use(manifest: dict, cfg) -> list[str]:
    openrlhf = manifest.get("openrlhf") or {}
    lines = ["### OpenRLHF", ""]
    if not openrlhf.get("value_head_prefix"):
        return lines + [("OpenRLHF's `get_llm_for_sequence_regression` puts a bias-free value head on a decoder's "
                         "last token, which cannot hold this model: serve it (below) and pass "
                         f"`--reward.remote_url http://127.0.0.1:{PORT}/get_reward`."), ""]
    chat = manifest.get("input_format") == "chat"
    lines += ["```python", "import torch", "from openrlhf.models import get_llm_for_sequence_regression",
              "from transformers import AutoTokenizer", "", f"MODEL = {PLACEHOLDER!r}",
              "model = get_llm_for_sequence_regression(MODEL, 'reward', normalize_reward=True, param_dtype='bf16',",
              "                                        attn_implementation='sdpa').eval()"]
    stats = openrlhf.get("reward_stats") or {}
    if "mean" in stats:
        lines += ["model.mean[0], model.std[0] = model.config.mean, model.config.std  # see below"]
    lines += ["tok = AutoTokenizer.from_pretrained(MODEL)"]
    if chat:
        lines += [*_messages_code(), "text = tok.apply_chat_template(messages, tokenize=False)"]
    else:
        lines += [f"text = {EXAMPLE_PROMPT + ' ' + EXAMPLE_RESPONSES[0]!r}"]
    lines += ["enc = tok([text], add_special_tokens=False, truncation=True, return_tensors='pt')",
              "with torch.no_grad():",
              "    reward = model(enc['input_ids'], enc['attention_mask'])  # (reward - mean) / std",
              "print(reward.item())", "```", ""]
    if "mean" in stats:
        norm = (f"config.json names the value head (`value_head_prefix: score`, the run's bias-free head read at the "
                f"last token the attention mask keeps) and holds the mean {stats['mean']:.6g} and std "
                f"{stats['std']:.6g} of the run's rewards on {stats['responses']} training responses ({stats['pairs']} "
                f"of {stats['train_pairs']} training pairs), which `--reward.normalize_enable` reads. OpenRLHF "
                "keeps them in non-persistent buffers, which transformers 5's `from_pretrained` re-creates empty "
                "unless the model is built under ZeRO-3 (openrlhf 0.11.2 pins transformers 5.15): set them from "
                "config.json after loading, as the snippet does.")
    else:
        norm = ("config.json names the value head (`value_head_prefix: score`) but holds no reward mean and std "
                f"({stats.get('error', 'not computed')}): `--reward.normalize_enable` would leave rewards as they are.")
    lines += [(f"In OpenRLHF's trainers: `--reward.model_name_or_path MODEL --reward.normalize_enable --data.max_len "
               f"{cfg.model.get('max_length')}`. " + norm + " OpenRLHF computes in bf16 by default (rewards within "
               "about 1e-2 of fp32)" + (", and reads the policy's tokens: they end at EOS where the reward is read "
                                        "when the policy writes this chat template" if chat else "") + "."), ""]
    return lines


def server_use(example: dict | None) -> list[str]:
    body = json.dumps(example or {"query": ["..."], "prompts": ["..."]})
    base = f"http://127.0.0.1:{PORT}"
    return ["### A reward server (OpenRLHF's remote reward protocol)", "", "```bash",
            f"python -m rm_lab.serve {PLACEHOLDER} --port {PORT} &   # pip install 'rm_lab[serve]'",
            f"until curl -sf {base}/health > /dev/null; do sleep 1; done",
            f"curl -s {base}/get_reward -H 'Content-Type: application/json' -d '{body}'",
            "```", "",
            ("The answer is `{\"rewards\": [...], \"scores\": [...]}`, the run's rewards. OpenRLHF: "
             f"`--reward.remote_url {base}/get_reward`. A chat model reads each query as a whole (a conversation in "
             "its chat template's text, ending at EOS); a pair model reads the query after its prompt as the "
             "response. The server listens on 127.0.0.1 unless `--host` says otherwise; `--api-key KEY` (or "
             "RM_LAB_API_KEY) makes it ask for `Authorization: Bearer KEY`."), ""]


def model_card(results: dict, cfg, manifest: dict, example: dict | None = None) -> str:
    """README.md of an export (manifest: what the export wrote; example: `example_request`)."""
    from rm_lab.rundir.results import method_label

    method = method_label(results) or results.get("method")
    transformers = manifest["format"] == "transformers"
    lines = ["---", f"library_name: {'transformers' if transformers else 'rm_lab'}", "tags:", "- reward-model",
             "- rm_lab", "---", "", f"# {method} reward model on {cfg.model.name}", "",
             *recipe(results, cfg, str(manifest.get("rm_lab"))), *accuracy(results), "## Use", ""]
    if transformers:
        lines += transformers_use(manifest)
    else:
        lines += ["### rm_lab", "", "```python", "import rm_lab", "", f"MODEL = {PLACEHOLDER!r}",
                  "scorer = rm_lab.load_reward_model(MODEL)",
                  f"print(scorer.score_pairs([{{'prompt': {EXAMPLE_PROMPT!r}, 'chosen': {EXAMPLE_RESPONSES[0]!r}, "
                  f"'rejected': {EXAMPLE_RESPONSES[1]!r}}}]))", "```", "",
                  f"Backbone weights: {manifest.get('backbone_weights')}.", ""]
    lines += trl_use(manifest, cfg) + openrlhf_use(manifest, cfg) + server_use(example)
    return "\n".join(lines).rstrip() + "\n"


def card_example(cfg, folder, manifest: dict) -> dict:
    """`example_request` for the export being written in `folder`: its own tokenizer (a
    transformers export) or the run's (chat format; the pair format needs none)."""
    fmt = manifest.get("input_format") or cfg.model.get("input_format", "pair")
    if fmt != "chat":
        return example_request(None, fmt)
    if manifest["format"] == "transformers":
        from transformers import AutoTokenizer

        return example_request(AutoTokenizer.from_pretrained(folder), fmt)
    from rm_lab.runner.build import build_backbone

    return example_request(build_backbone(cfg).tokenizer(), fmt)
