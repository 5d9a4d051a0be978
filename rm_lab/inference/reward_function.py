"""A trained reward model as an RLHF trainer's reward function (TRL's `reward_funcs`).

    import rm_lab
    reward = rm_lab.reward_function("runs/.../seed_0/<time>")        # any completed run or export
    reward(prompts=["How do I boil an egg?"], completions=["Boil it for nine minutes."])   # [reward]

    from trl import GRPOConfig, GRPOTrainer
    trainer = GRPOTrainer(model=POLICY, reward_funcs=reward, args=GRPOConfig(...), train_dataset=DATASET)

`reward_function(PATH)` takes what `rm_lab.score` takes and more: a completed run's folder (every
method: Baseline, BaseLoRA, MoRE, RODOS, ARLISS, the embedding heads), a `--format run` export,
or a transformers export (`rm_lab.inference.exported.load_scorer`). The callable has the signature
TRL's GRPOTrainer and RLOOTrainer call custom reward functions with, `reward(prompts=...,
completions=..., completion_ids=..., **columns)`, and returns one float per completion, the run's
reward (`rm_lab.score`'s, batched the same way). Prompts and completions are texts (TRL's standard
format) or lists of chat messages (its conversational format); each model reads them in its own
input format (`rm_lab.data.render`):
- chat format: the chat template over the prompt's messages (a prompt text: its HH-RLHF dialogue
  turns, or one user turn) and the completion as the assistant turn, ending at EOS; for a
  conversational prompt that is TRL's own text, `prompt + completion` through the template.
- pair format (encoders, GPT-2): `tokenizer(prompt, completion)` (encoders: `[CLS] prompt [SEP]
  completion [SEP]` with token type ids, which TRL's own reward-model path cannot give); a
  conversational prompt is read as its HH-RLHF dialogue text, a conversational completion as its
  contents.
Completions are scored as they come: no stripping. Inputs longer than the run's max length are
truncated from the left, as in training (the prompt's start is cut, the completion's end kept).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rm_lab.inference.exported import describe, load_scorer


class RewardFunction:
    """`reward(prompts, completions, **kwargs) -> list[float]` over a loaded scorer (see the module doc).
    Not a torch module, so TRL calls it as a reward function and never re-tokenizes for it."""

    def __init__(self, scorer):
        self.scorer = scorer
        info = describe(scorer)
        self.__name__ = f"rm_lab-{info['method']}-{info['backbone']}"  # TRL names the reward's log columns with it
        self.input_format = info["input_format"]

    def __repr__(self) -> str:
        return f"RewardFunction({self.scorer!r})"

    def __call__(self, prompts: Sequence, completions: Sequence, **kwargs) -> list[float]:
        """The reward of each (prompt, completion), in order; other keyword arguments (TRL's
        `completion_ids`, `trainer_state`, the dataset's columns) are accepted and not read."""
        if isinstance(prompts, str) or isinstance(completions, str):
            raise TypeError("prompts and completions are lists (one entry per completion), as TRL passes them; "
                            "got a single string")
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions: give one prompt per "
                             "completion (TRL repeats each prompt for its generations)")
        rows = [{"prompt": p, "response": c} for p, c in zip(prompts, completions)]
        return [float(r) for r in self.scorer.score_responses(rows)]


def reward_function(path: str | Path, device: str | None = None, batch_size: int | None = None,
                    progress: bool = False) -> RewardFunction:
    """The reward model at `path` (a completed run or an export) as a TRL reward function.

    device: where to score (default: cuda when available, else cpu). batch_size: as
    `rm_lab.load_reward_model` takes it (default: the run's eval batch size); a transformers
    export: inputs per batch (default 32). progress: tqdm bars while scoring."""
    return RewardFunction(load_scorer(path, device=device, batch_size=batch_size, progress=progress))
