"""rm_lab.reward_function(PATH): any completed run or export as a TRL reward function."""
from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
from rlhf_runs import exported, held_out_pairs, trained

import rm_lab
from rm_lab.data.render import dialogue, to_messages
from rm_lab.inference.reward_function import RewardFunction


class _Scorer:
    """A stand-in scorer: the reward of a row is the length of its response text."""

    method, run_dir = "baseline", "/runs/x"
    backbone = SimpleNamespace(name="tiny", input_format="pair")

    def __init__(self):
        self.rows = []

    def score_responses(self, rows):
        self.rows.append(list(rows))
        return [float(len(r["response"] if isinstance(r["response"], str) else r["response"][0]["content"]))
                for r in rows]


def test_the_signature_trl_calls_reward_functions_with():
    scorer = _Scorer()
    reward = RewardFunction(scorer)
    assert reward.__name__ == "rm_lab-baseline-tiny"  # TRL names its reward log columns after it
    assert not callable(getattr(reward, "parameters", None))  # no torch module: TRL calls it, never re-tokenizes
    assert list(inspect.signature(reward).parameters) == ["prompts", "completions", "kwargs"]
    got = reward(prompts=["p", "p"], completions=["ab", " abc "], completion_ids=[[1], [2]], trainer_state=None,
                 answer=["x", "y"])  # TRL's extra keyword arguments are accepted
    assert got == [2.0, 5.0] and scorer.rows[-1][1] == {"prompt": "p", "response": " abc "}  # never stripped
    conversational = reward(prompts=[[{"role": "user", "content": "p"}]],
                            completions=[[{"role": "assistant", "content": "abcd"}]])
    assert conversational == [4.0]
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        reward(["a", "b"], ["c"])
    with pytest.raises(TypeError, match="lists"):
        reward("a", "c")


def test_an_empty_completion_has_a_reward_while_a_pair_needs_both_sides():
    from rm_lab.inference.scorer import _texts

    assert _texts([{"prompt": "", "response": ""}], ("prompt", "response")) == {"prompt": [""], "response": [""]}
    with pytest.raises(ValueError, match="empty_text: rejected"):
        _texts([{"prompt": "p", "chosen": "c", "rejected": " "}], ("prompt", "chosen", "rejected"))


def _inputs(run_dir):
    pairs = held_out_pairs(run_dir)
    prompts = [p.prompt for p in pairs for _ in (0, 1)]
    completions = [r for p in pairs for r in (p.chosen, p.rejected)]
    return prompts + ["How do I boil an egg?"], completions + [""]


def _run_rewards(run_dir, prompts, completions):
    scorer = rm_lab.load_reward_model(run_dir, progress=False)
    return scorer.score_responses([{"prompt": p, "response": c} for p, c in zip(prompts, completions)])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["baseline", "base_lora", "more", "rodos", "arliss", "embedding"])
def test_every_method_and_its_export_gives_the_runs_rewards(tmp_path_factory, name):
    run_dir = trained(tmp_path_factory, name)
    prompts, completions = _inputs(run_dir)
    expected = _run_rewards(run_dir, prompts, completions)  # rm_lab.score's rewards
    assert len({round(r, 4) for r in expected}) > 1

    reward = rm_lab.reward_function(run_dir)
    assert reward(prompts=prompts, completions=completions) == pytest.approx(expected, abs=1e-4)
    small = rm_lab.reward_function(run_dir, batch_size=3)  # batching does not change a reward
    assert small(prompts=prompts, completions=completions) == pytest.approx(expected, abs=1e-4)
    # TRL's conversational form of the HH prompts reads as the same dialogue text in the pair format
    same = [i for i, p in enumerate(prompts) if p.startswith("\n\nHuman:") and dialogue(to_messages(p)) == p]
    assert same
    chat = reward(prompts=[to_messages(prompts[i]) for i in same],
                  completions=[[{"role": "assistant", "content": completions[i]}] for i in same])
    assert chat == pytest.approx([expected[i] for i in same], abs=1e-4)

    out = exported(tmp_path_factory, name)  # transformers for baseline and base_lora, a run folder otherwise
    from_export = rm_lab.reward_function(out)(prompts=prompts, completions=completions)
    assert from_export == pytest.approx(expected, abs=1e-4)
    assert reward.__name__.startswith(f"rm_lab-{name}") and reward.__name__.endswith("-tiny-deberta")
