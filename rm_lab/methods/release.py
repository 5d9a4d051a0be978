"""What a finished fit leaves behind, freed before the next one starts.

A composite method (RODOS, ARLISS) fits its parts one after another in one process. Each fit's
Lightning trainer holds the part's optimizer (AdamW: two moments per trainable parameter), its
scheduler, its loops' results, and refers to its module and datamodule in cycles that only
Python's cyclic collector frees; the part's parameters keep the gradients of its last step.
Left alone, each finished part adds its training state to the process (weights x 3 in fp32),
so memory climbs part after part. `release_fit` drops those states and references, and
`collect` returns the freed memory: the collector, the CUDA cache, and glibc's free lists.

    time = timed_fit(trainer, fit, part)
    release_fit(trainer, fit, part)
    del trainer, fit, part
    collect(device)
"""
from __future__ import annotations

import ctypes
import gc
import sys

import torch


def release_fit(trainer, module: torch.nn.Module, datamodule=None) -> None:
    """Drop a finished fit's optimizer states, schedulers, gradients and the trainer's links."""
    strategy = getattr(trainer, "strategy", None)
    for optimizer in list(getattr(strategy, "optimizers", None) or []):
        optimizer.state.clear()
        optimizer.param_groups.clear()
    if strategy is not None:
        strategy.optimizers = []
        strategy.lr_scheduler_configs = []
    for param in module.parameters():
        param.grad = None
    if hasattr(module, "_trainer"):
        module._trainer = None  # a LightningModule's link to its trainer (set by fit)
    if datamodule is not None and hasattr(datamodule, "trainer"):
        datamodule.trainer = None


def collect(device=None) -> None:
    """Free what nothing refers to any more: cycles (a trainer and its parts), the CUDA caching
    allocator's blocks, and the C allocator's free pages (glibc)."""
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
