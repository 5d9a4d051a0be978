"""Every command a user types, each a thin door into the library: it parses arguments and calls it.

`python -m rm_lab.cli` lists them (COMMANDS below is that list, one line each).
"""
from __future__ import annotations

# command (as typed after `python -m`) -> what it does
COMMANDS: dict[str, str] = {
    "rm_lab": "train and test one configured run (Hydra; -m for a sweep; --help for the config groups)",
    "rm_lab.score": "rewards and accuracy of a trained run or export on a file of pairs",
    "rm_lab.export": "a completed run as a transformers folder or a portable run folder",
    "rm_lab.serve": "a trained run or export behind OpenRLHF's remote reward protocol (HTTP)",
    "rm_lab.report": "a sweep's results.json files -> the paper tables, CSV, LaTeX and plots",
    "rm_lab.results": "check or upgrade results.json files to the current schema",
    "rm_lab.plan": "a run's memory per device from its config, before anything is loaded",
    "rm_lab.bench": "training pairs/s, tokens/s, padding, share of matmul peak, scoring inputs/s",
    "rm_lab.add_domain": "add a domain to a trained RODOS or ARLISS run, reusing its other parts",
    "rm_lab.inference_compare": "ARLISS against RODOS inference time per input on one backbone",
    "rm_lab.param_table": "the router methods' parameter counts against the paper (meta device)",
    "rm_lab.analysis": "base-model choice: benchmark scores against reward-model quality",
    "rm_lab.analysis.stages": "post-training stages against their base model",
    "rm_lab.analysis.zoo": "the base-model zoo's parameter counts from config",
    "rm_lab.embedding_study": "the golden-reward study of embedding-based reward models",
    "rm_lab.embedding_study.sweep": "embedding heads over seeds, every ensemble rule, in one process",
    "rm_lab.embedding_study.speed": "embedding throughput against a bare forward pass",
}


def listing() -> str:
    width = max(len(c) for c in COMMANDS) + len("python -m ")
    return "\n".join(f"{'python -m ' + c:<{width}}  {what}" for c, what in COMMANDS.items())
