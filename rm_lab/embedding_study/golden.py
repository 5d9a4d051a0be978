"""Golden-reward arrays and the loader for the authors' released file layout.

The reference release stores, per (response generator, embedding model, task, split),
`embd_<name>_<split>.npy` (float, (prompts, responses, dim); some of their tensors are
(responses, prompts, dim)) and `reward_<name>_<split>.npy` ((prompts, responses) or
(prompts, responses, 1)). `load_golden_files(folder, name, split)` reads either layout.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "prompts_first", "responses_first")


@dataclass
class GoldenSet:
    """embeddings (prompts, responses, dim), rewards (prompts, responses); `source` says where
    they come from ("synthetic" or "files")."""
    embeddings: np.ndarray
    rewards: np.ndarray
    source: str
    name: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.embeddings.ndim != 3 or self.rewards.shape != self.embeddings.shape[:2]:
            raise ValueError(f"embeddings {self.embeddings.shape} and rewards {self.rewards.shape} must be "
                             "(prompts, responses, dim) and (prompts, responses)")

    @property
    def prompts(self) -> int:
        return self.embeddings.shape[0]

    @property
    def responses(self) -> int:
        return self.embeddings.shape[1]

    @property
    def label(self) -> str:
        return f"{self.name} (synthetic testbed)" if self.source == "synthetic" else self.name


def golden_paths(folder: str | Path, name: str, split: str) -> tuple[Path, Path]:
    folder = Path(folder).expanduser()
    embd, reward = folder / f"embd_{name}_{split}.npy", folder / f"reward_{name}_{split}.npy"
    missing = [p for p in (embd, reward) if not p.exists()]
    if missing:
        found = sorted(p.name for p in folder.glob("embd_*.npy")) if folder.is_dir() else []
        hint = f"; embedding files there: {', '.join(found[:10])}" if found else ""
        raise FileNotFoundError(f"missing {', '.join(str(p) for p in missing)} (expected embd_<name>_<split>.npy and "
                                f"reward_<name>_<split>.npy in {folder}){hint}")
    return embd, reward


def load_golden_files(folder: str | Path, name: str, split: str, layout: str = "auto",
                      max_prompts: int | None = None) -> GoldenSet:
    """Read one split; `layout` says how the embedding array is ordered (auto: from the rewards'
    shape, which is (prompts, responses)); `max_prompts` keeps the first prompts only."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    embd_path, reward_path = golden_paths(folder, name, split)
    embd = np.load(embd_path, mmap_mode="r")
    rewards = np.asarray(np.load(reward_path), dtype=np.float64)
    if rewards.ndim == 3 and rewards.shape[-1] == 1:
        rewards = rewards[..., 0]
    if embd.ndim != 3 or rewards.ndim != 2:
        raise ValueError(f"{embd_path.name} must be 3-d and {reward_path.name} 2-d (or (.., .., 1)); "
                         f"got {embd.shape} and {rewards.shape}")
    if layout == "auto":
        if embd.shape[:2] == rewards.shape:
            layout = "prompts_first"
            if embd.shape[0] == embd.shape[1]:
                log.warning("%s is square in prompts and responses; assuming (prompts, responses, dim): "
                            "set layout=responses_first if it is not", embd_path.name)
        elif embd.shape[:2] == rewards.shape[::-1]:
            layout = "responses_first"
        else:
            raise ValueError(f"{embd_path.name} {embd.shape} does not match {reward_path.name} {rewards.shape} "
                             "in either (prompts, responses, dim) or (responses, prompts, dim) order")
    if layout == "responses_first":
        embd = embd.transpose(1, 0, 2)
        if rewards.shape != embd.shape[:2] and rewards.shape[::-1] == embd.shape[:2]:
            rewards = rewards.T
    if embd.shape[:2] != rewards.shape:
        raise ValueError(f"after layout={layout}, embeddings {embd.shape} and rewards {rewards.shape} disagree")
    keep = slice(None, max_prompts)
    return GoldenSet(np.ascontiguousarray(embd[keep], dtype=np.float32), rewards[keep], source="files",
                     name=f"{name}_{split}", meta={"layout": layout, "path": str(embd_path)})
