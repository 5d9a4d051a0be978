"""Exports in TRL's reward path: TRL's GRPO/RLOO `reward_funcs=PATH`, as TRL 1.16 runs it
(tests/trl_steps.py; TRL itself too where it is installed), gives the run's rewards."""
from __future__ import annotations

import copy
import importlib.util
import json

import pytest
from rlhf_runs import exported, held_out_pairs, trained
from trl_steps import TRL_VERSION, load_reward_model, reward_texts, rewards

import rm_lab
from rm_lab.data.render import chat_text, conversation, end_at_eos, reward_template, to_messages

# completions a policy can hand over: whitespace around them, newlines, nothing at all, EOS inside
ODD = [" Sure, here it is.  ", "\n\nTwo newlines first.", "Ends with a newline\n", "", "Egg 🥚, crème brûlée.",
       "Done.<|im_end|>", "\t tab and space \t", "A plain answer."]


def _assert_same(got: list[float], expected: list[float], tolerance: float = 1e-4) -> None:
    """Within `tolerance` everywhere, and the same winner on every consecutive (chosen, rejected) pair."""
    diff = max(abs(a - b) for a, b in zip(got, expected, strict=True))
    assert diff <= tolerance, diff
    for i in range(0, len(got), 2):
        assert (got[i] > got[i + 1]) == (expected[i] > expected[i + 1]), i
    assert len({round(r, 4) for r in expected}) > 1  # the rewards are not one constant


# -- the template an export ships ------------------------------------------------------------------
@pytest.fixture(scope="module")
def tok():
    from rm_lab.models.backbone import Backbone

    tok = copy.deepcopy(Backbone(name="minilm-l6", source="packaged:minilm").tokenizer())
    tok.eos_token = "[SEP]"
    return tok


@pytest.mark.parametrize("template", [
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}[SEP]\n{% endfor %}"        # ChatML-like: EOS + newline
    "{% if add_generation_prompt %}<|assistant|>{% endif %}",
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}",               # Gemma-like: no EOS
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}[SEP]{% endfor %}",            # Llama-3-like: EOS
], ids=["eos-newline", "no-eos", "eos"])
def test_the_shipped_template_writes_the_runs_text(tok, template):
    tok.chat_template = template
    wrapped = copy.deepcopy(tok)
    wrapped.chat_template = reward_template(template)
    assert reward_template(wrapped.chat_template) == wrapped.chat_template  # applied once
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    for response in ["Hello", " Hello \n", "", "Bye[SEP]"]:
        run_text = chat_text(tok, prompt, response)  # what the run reads (original template + end_at_eos)
        messages = prompt + [{"role": "assistant", "content": response}]
        assert wrapped.apply_chat_template(messages, tokenize=False) == run_text  # what TRL renders with the export
        assert run_text == end_at_eos(tok.apply_chat_template(messages, tokenize=False), "[SEP]")
    # other renderings are the template's own: the generation prompt, a conversation ending with the user
    for kwargs in ({"add_generation_prompt": True}, {}):
        assert wrapped.apply_chat_template(prompt, tokenize=False, **kwargs) == \
            tok.apply_chat_template(prompt, tokenize=False, **kwargs)
    named = reward_template({"default": template, "tool_use": template})
    assert named == {"default": wrapped.chat_template, "tool_use": wrapped.chat_template}


def test_responses_are_read_as_given_and_message_prompts_as_they_are():
    hh = "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: Bake bread?\n\nAssistant:"
    assert conversation(hh, " Sure. ") == [*to_messages(hh), {"role": "assistant", "content": " Sure. "}]
    messages = [{"role": "user", "content": "  spaced  "}]
    completion = [{"role": "assistant", "content": "\nline\n"}]
    assert conversation(messages, completion) == messages + completion  # TRL's prompt + completion, unmerged
    assert conversation([{"role": "assistant", "content": "a"}], "b") == [
        {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]


# -- TRL's path on trained exports ---------------------------------------------------------------
def _run_rewards(run_dir, prompts, completions) -> list[float]:
    """rm_lab.score's rewards (the run's scorer, fp32) of each (prompt, completion)."""
    scorer = rm_lab.load_reward_model(run_dir, progress=False)
    scorer.mixed_precision = False
    return scorer.score_responses([{"prompt": p, "response": c} for p, c in zip(prompts, completions, strict=True)])


def _chat_inputs(run_dir):
    """HH test pairs as TRL's conversational prompts and completions, then odd completions to one prompt."""
    pairs = held_out_pairs(run_dir, "hh_rlhf")
    prompts = [p.prompt for p in pairs for _ in (0, 1)] + [pairs[0].prompt] * len(ODD)
    texts = [r for p in pairs for r in (p.chosen, p.rejected)] + ODD
    return pairs, prompts, texts


@pytest.mark.slow
def test_trl_reward_path_gives_the_runs_rewards_on_a_chat_export(tmp_path_factory):
    run_dir, out = trained(tmp_path_factory, "chat"), exported(tmp_path_factory, "chat")
    model, tokenizer = load_reward_model(out)  # as GRPOTrainer.__init__ loads reward_funcs=PATH
    assert tokenizer.pad_token_id == model.config.pad_token_id != tokenizer.eos_token_id
    pairs, prompts, texts = _chat_inputs(run_dir)
    conversational = [to_messages(p) for p in prompts]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    trl_texts = reward_texts(tokenizer, conversational, completions)
    run_tok = rm_lab.load_reward_model(run_dir, progress=False).backbone.tokenizer()
    assert trl_texts == [chat_text(run_tok, p, t) for p, t in zip(prompts, texts)]  # the run's text, to the character
    lengths = [len(ids) for ids in tokenizer(trl_texts, add_special_tokens=False)["input_ids"]]
    assert max(lengths) <= 1024 and len(pairs) >= 10  # nothing truncated: TRL never truncates

    got = rewards(model, tokenizer, conversational, completions)
    expected = _run_rewards(run_dir, prompts, texts)  # HH prompt texts, split into turns as in training
    _assert_same(got, expected)
    # ... and the same through rm_lab.reward_function with TRL's conversational inputs
    assert rm_lab.reward_function(run_dir)(prompts=conversational, completions=completions) == \
        pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
def test_where_trl_reads_more_than_the_run_the_card_says_so_and_reward_function_truncates(tmp_path_factory):
    run_dir, out = trained(tmp_path_factory, "chat"), exported(tmp_path_factory, "chat")
    prompt = [{"role": "user", "content": "Tell me about the history of the city. " * 120}]  # > 1024 tokens
    completions = [[{"role": "assistant", "content": "It was founded long ago."}]]
    model, tokenizer = load_reward_model(out)
    trl = rewards(model, tokenizer, [prompt], completions)
    run = _run_rewards(run_dir, [prompt], completions)  # truncated from the left, as in training
    assert rm_lab.reward_function(out)(prompts=[prompt], completions=completions) == pytest.approx(run, abs=1e-4)
    assert abs(trl[0] - run[0]) > 1e-4  # TRL read the whole input
    card = (out / "README.md").read_text()
    assert "TRL does not truncate" in card and "1024 tokens" in card


@pytest.mark.slow
def test_trl_plain_path_gives_the_runs_rewards_on_a_pair_format_decoder(tmp_path_factory):
    """On HH pairs (prompts ending "Assistant:", responses starting with a space) TRL's prompt +
    completion tokenizes as the run's tokenizer(prompt, response); texts that need a space between
    them (HellaSwag's) do not, and the card says so."""
    run_dir, out = trained(tmp_path_factory, "pair_llama"), exported(tmp_path_factory, "pair_llama")
    pairs = held_out_pairs(run_dir, "hh_rlhf")
    prompts = [p.prompt for p in pairs for _ in (0, 1)]
    texts = [r for p in pairs for r in (p.chosen, p.rejected)]
    model, tokenizer = load_reward_model(out)
    assert max(len(ids) for ids in tokenizer(reward_texts(tokenizer, prompts, texts))["input_ids"]) <= 1024
    _assert_same(rewards(model, tokenizer, prompts, texts), _run_rewards(run_dir, prompts, texts))
    card = (out / "README.md").read_text()
    assert "gives the same rewards for text prompts" in card and "HellaSwag" in card


@pytest.mark.slow
def test_trl_builtin_path_cannot_read_an_encoder_and_its_card_points_to_reward_function(tmp_path_factory):
    run_dir, out = trained(tmp_path_factory, "bert"), exported(tmp_path_factory, "bert")
    pairs = held_out_pairs(run_dir)
    prompts = [p.prompt for p in pairs for _ in (0, 1)]
    texts = [r for p in pairs for r in (p.chosen, p.rejected)]
    _assert_same(rm_lab.reward_function(out)(prompts=prompts, completions=texts), _run_rewards(run_dir, prompts, texts))
    # short inputs (within the run's 64 tokens, so truncation plays no part): TRL reads one text without
    # [CLS]/[SEP] or token types, the run [CLS] prompt [SEP] response [SEP]
    short_prompts, short_texts = [p[-60:] for p in prompts], [t[:60] for t in texts]
    model, tokenizer = load_reward_model(out)
    trl = rewards(model, tokenizer, short_prompts, short_texts)
    assert max(abs(a - b) for a, b in zip(trl, _run_rewards(run_dir, short_prompts, short_texts))) > 1e-3
    assert not tokenizer.chat_template  # and TRL's conversational path has no template to render with
    card = (out / "README.md").read_text()
    assert "cannot give this model's rewards" in card and "rm_lab.reward_function(MODEL)" in card


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="TRL is not installed (pip install 'rm_lab[test-trl]')")
def test_trl_grpo_trainer_itself_gives_the_runs_rewards(tmp_path_factory, tmp_path):
    """TRL's own GRPOTrainer, built with reward_funcs=EXPORT around a tiny policy: its
    `_calculate_rewards` (the code the copied steps follow) on the HH test pairs."""
    import trl
    from datasets import Dataset
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    run_dir, out = trained(tmp_path_factory, "chat"), exported(tmp_path_factory, "chat")
    _, prompts, texts = _chat_inputs(run_dir)
    conversational = [to_messages(p) for p in prompts]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    tok = AutoTokenizer.from_pretrained(out)
    policy = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                          num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), report_to=[], use_cpu=True, per_device_train_batch_size=2,
                      num_generations=2, max_completion_length=8, bf16=False)
    trainer = GRPOTrainer(model=policy, processing_class=tok, reward_funcs=str(out), args=args,
                          train_dataset=Dataset.from_list([{"prompt": conversational[0]}] * 4))
    got = trainer._calculate_rewards([{"prompt": p} for p in conversational], conversational, completions,
                                     [None] * len(completions))[:, 0].tolist()
    _assert_same(got, _run_rewards(run_dir, prompts, texts))
    assert json.loads((out / "manifest.json").read_text())["input_format"] == "chat"
    assert trl.__version__ >= TRL_VERSION or trl.__version__.startswith("1.")
