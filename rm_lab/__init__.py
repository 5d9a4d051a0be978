"""rm_lab: reward-model research with Hydra and PyTorch Lightning.

`python -m rm_lab` trains the configured method; see README.md for the commands.
`rm_lab.load_reward_model(RUN_DIR)` loads a trained run's reward model to score texts;
`rm_lab.reward_function(PATH)` gives a run or an export as an RLHF trainer's reward function (TRL).
"""
from rm_lab.core.config import register_resolvers

__version__ = "0.1.0"

register_resolvers()


def load_reward_model(path, device=None, batch_size=None, progress=True):
    """The reward model of a completed run (its folder), ready to score: `score_pairs(rows)`,
    `score_responses(rows)`. Imported on first use (rm_lab.inference.scorer), so `import rm_lab` stays light."""
    from rm_lab.inference.scorer import load_reward_model as load

    return load(path, device=device, batch_size=batch_size, progress=progress)


def reward_function(path, device=None, batch_size=None, progress=False):
    """A completed run or an export (any method) as a TRL reward function: `reward(prompts,
    completions, **kwargs) -> list[float]`, the run's rewards. Imported on first use
    (rm_lab.inference.reward_function), so `import rm_lab` stays light."""
    from rm_lab.inference.reward_function import reward_function as make

    return make(path, device=device, batch_size=batch_size, progress=progress)
