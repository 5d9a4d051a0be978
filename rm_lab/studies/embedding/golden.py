"""Golden-reward arrays and the loader for the authors' released file layout.

The reference release (its `load_embd_data(task, res_gen_model, embed_model, split)`) stores,
per (response generator, embedding model, task, split), `embd_<name>_<split>.npy` and
`reward_<name>_<split>.npy` in one folder, <name> = <res_gen_model>_<embed_model>_<task>, e.g.
`embd_Gemma2b-sft_Gemma2b_Harmless_train.npy`: embeddings (prompts, responses, dim) (Gemma-2 2B:
dim 2048; train 40000 x 10, test 2000 x 500) and golden rewards (prompts, responses, 1).
`load_golden_files(folder, name, split)` reads that layout and these others: embeddings as
(responses, prompts, dim), or flat (prompts * responses, dim) rows, prompt-major; rewards as
(prompts, responses) or (prompts, responses, 1). `dim` checks the embedding width (the paper
experiment expects 2048). A float32, prompt-major file stays memory-mapped (only the pairs
and test chunks in use are read), so the 8 GB test array needs no 8 GB of memory.
`golden_names(folder)` lists the <name>s a folder holds.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "prompts_first", "responses_first", "flat")
SPLITS = ("train", "test")


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


def golden_names(folder: str | Path) -> list[str]:
    """The <name>s with all four files (embd_ and reward_, train and test) in `folder`."""
    folder = Path(folder).expanduser()
    names = sorted(p.name[len("embd_"):-len("_train.npy")] for p in folder.glob("embd_*_train.npy"))
    return [n for n in names
            if all((folder / f"{kind}_{n}_{split}.npy").exists() for kind in ("embd", "reward") for split in SPLITS)]


def find_golden_name(folder: str | Path) -> str:
    """The one <name> a folder holds; an error naming the choices when it holds none or several."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"data.path={folder} is not a folder: give the folder that holds "
                                "embd_<name>_train.npy, embd_<name>_test.npy and their reward_<name>_<split>.npy")
    names = golden_names(folder)
    if len(names) == 1:
        return names[0]
    if not names:
        raise FileNotFoundError(f"{folder} holds no complete embedding set: expected embd_<name>_train.npy, "
                                "embd_<name>_test.npy, reward_<name>_train.npy and reward_<name>_test.npy")
    raise ValueError(f"{folder} holds {len(names)} embedding sets: pick one with data.name=<name>, one of "
                     f"{', '.join(names)}")


def load_golden_files(folder: str | Path, name: str, split: str, layout: str = "auto",
                      max_prompts: int | None = None, dim: int | None = None) -> GoldenSet:
    """Read one split; `layout` says how the embedding array is ordered (auto: from the rewards'
    shape, which is (prompts, responses)); `max_prompts` keeps the first prompts only; `dim`,
    when given, is the embedding width the file must have."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    embd_path, reward_path = golden_paths(folder, name, split)
    embd = np.load(embd_path, mmap_mode="r")
    rewards = np.asarray(np.load(reward_path), dtype=np.float64)
    if rewards.ndim == 3 and rewards.shape[-1] == 1:
        rewards = rewards[..., 0]
    if embd.ndim not in (2, 3) or rewards.ndim != 2:
        raise ValueError(f"{embd_path.name} must be (prompts, responses, dim), (responses, prompts, dim) or "
                         f"(prompts * responses, dim), and {reward_path.name} (prompts, responses[, 1]); "
                         f"got {embd.shape} and {rewards.shape}")
    if dim is not None and embd.shape[-1] != dim:
        raise ValueError(f"{embd_path.name} holds {embd.shape[-1]}-dimensional embeddings (shape {embd.shape}), "
                         f"but data.dim={dim} (2048: Gemma-2 2B, the released files): set data.dim="
                         f"{embd.shape[-1]} for these files, or data.dim=null to accept any width")
    if embd.ndim == 2 or layout == "flat":
        if embd.ndim != 2 or embd.shape[0] != rewards.size:
            raise ValueError(f"{embd_path.name} {embd.shape} is not flat (prompts * responses, dim) rows for "
                             f"{reward_path.name} {rewards.shape} ({rewards.size} rows expected)")
        embd, layout = embd.reshape(*rewards.shape, embd.shape[-1]), "flat"
    elif layout == "auto":
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
    embd = embd[keep]
    if not (embd.dtype == np.float32 and embd.flags.c_contiguous):  # else: stays memory-mapped
        embd = np.ascontiguousarray(embd, dtype=np.float32)
    return GoldenSet(embd, rewards[keep], source="files", name=f"{name}_{split}",
                     meta={"layout": layout, "path": str(embd_path), "dim": int(embd.shape[-1])})
