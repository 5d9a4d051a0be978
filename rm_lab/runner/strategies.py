"""Distributed strategies the trainer configs name (`conf/trainer/fsdp.yaml`).

`fsdp(...)` is Lightning's FSDPStrategy with an auto-wrap policy that needs no model classes in
the config: every submodule holding at least `min_wrap_params` parameters becomes its own FSDP
unit (for a transformer: each decoder or encoder layer), so weights, gradients and AdamW states
are sharded over the devices (`sharding_strategy`: FULL_SHARD, SHARD_GRAD_OP, NO_SHARD,
HYBRID_SHARD). Checkpoints are saved whole (`state_dict_type: full`), so a run trained under
FSDP is scored, exported and resumed like any other.
"""
from __future__ import annotations

import functools


def fsdp(min_wrap_params: int = 10_000_000, sharding_strategy: str = "FULL_SHARD",
         state_dict_type: str = "full", cpu_offload: bool = False, **kwargs):
    from pytorch_lightning.strategies import FSDPStrategy
    from torch.distributed.fsdp.wrap import size_based_auto_wrap_policy

    policy = functools.partial(size_based_auto_wrap_policy, min_num_params=int(min_wrap_params))
    return FSDPStrategy(auto_wrap_policy=policy, sharding_strategy=sharding_strategy,
                        state_dict_type=state_dict_type, cpu_offload=cpu_offload, **kwargs)
