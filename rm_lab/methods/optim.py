"""The optimizer and learning-rate schedule of every fit, chosen by config.

`conf/optimizer/<name>.yaml` and `conf/scheduler/<name>.yaml` are `_target_` + `_partial_: true`
nodes (`cfg.optimizer`, `cfg.scheduler`). The builder turns them into factories and hands them to
each Lightning Trainer it builds (`attach`), so every fit made through it, a single-fit method's
and each component fit of RODOS and ARLISS, builds its optimizer with `build_optimizers`:

    optimizer = optimizer_factory(trainable_parameters, lr=lr, weight_decay=weight_decay)
    scheduler = scheduler_factory(optimizer, num_warmup_steps=warmup_steps)   # + num_training_steps

The learning rate, weight decay and warm-up stay method keys (`method.lr`, `method.router_lr`,
`method.weight_decay`, `method.warmup_steps`), so an optimizer node holds only what else the
callable takes (`+optimizer.betas=[0.9,0.95]`). A scheduler gets `num_warmup_steps` and, when it
takes one, `num_training_steps` (the fit's optimizer steps, `trainer.estimated_stepping_batches`),
and steps once per optimizer step; it may return None (no scheduler). A fit without a trainer
from the builder (a test's own `pl.Trainer`) gets the defaults: AdamW and `linear_warmup`, the
optimizer and schedule every fit had before they were configurable, bit for bit.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

ATTRIBUTE = "rm_lab_optim"  # where a trainer carries its run's OptimChoice
RESERVED = {"optimizer": {"lr": "method.lr (routers: method.router_lr)", "weight_decay": "method.weight_decay"},
            "scheduler": {"num_warmup_steps": "method.warmup_steps"}}


def linear_warmup(optimizer: torch.optim.Optimizer, num_warmup_steps: int = 0):
    """The learning rate rises linearly over the first `num_warmup_steps` steps ((step + 1) /
    num_warmup_steps of it), then stays constant; without warm-up, no scheduler (None)."""
    if not num_warmup_steps:
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / num_warmup_steps))


@dataclass(frozen=True)
class OptimChoice:
    """A run's optimizer and scheduler factories (instantiated `_partial_` config nodes)."""

    optimizer: Callable = functools.partial(torch.optim.AdamW)
    scheduler: Callable = functools.partial(linear_warmup)

    @classmethod
    def from_config(cls, optimizer_node=None, scheduler_node=None) -> OptimChoice:
        """Factories from `cfg.optimizer` and `cfg.scheduler` (either may be absent: the default)."""
        from hydra.utils import instantiate

        factories = {}
        for role, node in (("optimizer", optimizer_node), ("scheduler", scheduler_node)):
            if not node:
                continue
            if not node.get("_partial_", False):
                raise ValueError(f"{role} config needs `_partial_: true` (the fit passes the parameters and "
                                 f"{', '.join(RESERVED[role])}), got {dict(node)}")
            taken = sorted(set(node) & set(RESERVED[role]))
            if taken:
                raise ValueError(f"{role}.{taken[0]}: set it as {RESERVED[role][taken[0]]}, which every fit passes "
                                 f"to the {role}")
            factories[role] = instantiate(node, _convert_="all")
        return cls(**factories)


DEFAULT = OptimChoice()


def attach(trainer, choice: OptimChoice) -> None:
    """Every fit this trainer runs builds its optimizer and scheduler from `choice`."""
    setattr(trainer, ATTRIBUTE, choice)


def choice_of(module) -> OptimChoice:
    """The choice the module's trainer carries, else the defaults."""
    trainer = getattr(module, "_trainer", None) if module is not None else None
    return getattr(trainer, ATTRIBUTE, None) or DEFAULT


def _name(factory: Callable) -> str:
    func = getattr(factory, "func", factory)
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', repr(func))}".lstrip(".")


def build_scheduler(factory: Callable, optimizer: torch.optim.Optimizer, warmup_steps: int = 0,
                    training_steps: Callable[[], int] | None = None):
    """The factory's scheduler for `optimizer`: it gets `num_warmup_steps` and, when it takes it and
    the config does not set it, `num_training_steps` (`training_steps()`, asked only then)."""
    parameters = inspect.signature(factory).parameters
    bound = getattr(factory, "keywords", {})
    kwargs = {}
    if "num_warmup_steps" in parameters:
        kwargs["num_warmup_steps"] = warmup_steps
    elif warmup_steps:
        raise ValueError(f"method.warmup_steps={warmup_steps}, but the scheduler {_name(factory)} takes no "
                         "num_warmup_steps: set method.warmup_steps=0 or pick a scheduler with a warm-up")
    if "num_training_steps" in parameters and "num_training_steps" not in bound:
        if training_steps is None:
            raise ValueError(f"the scheduler {_name(factory)} needs num_training_steps: run it in a fit, or set "
                             "scheduler.num_training_steps")
        steps = training_steps()
        if not 0 < steps < float("inf"):
            raise ValueError(f"the scheduler {_name(factory)} needs the fit's optimizer steps, which its trainer "
                             f"cannot count ({steps}): set +scheduler.num_training_steps=N")
        kwargs["num_training_steps"] = int(steps)
    return factory(optimizer, **kwargs)


def build_optimizers(module, parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0,
                     warmup_steps: int = 0):
    """What a LightningModule's `configure_optimizers` returns: the optimizer over the trainable
    `parameters`, with its scheduler (stepped every optimizer step) when there is one. `module`
    is the fitted LightningModule (its trainer carries the run's choice; None: the defaults)."""
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise RuntimeError("nothing to train: every parameter is frozen")
    choice = choice_of(module)
    optimizer = choice.optimizer(params, lr=lr, weight_decay=weight_decay)
    if getattr(optimizer, "_step_supports_amp_scaling", False):
        # a fused optimizer (`optimizer.fused=true`) could unscale fp16 gradients inside its step;
        # the GradScaler does it first instead, as for any optimizer, so that Lightning clips
        # gradients under mixed precision (it refuses to where the optimizer unscales them)
        optimizer._step_supports_amp_scaling = False
    trainer = getattr(module, "_trainer", None) if module is not None else None
    steps = (lambda: trainer.estimated_stepping_batches) if trainer is not None else None
    scheduler = build_scheduler(choice.scheduler, optimizer, warmup_steps, steps)
    if scheduler is None:
        return optimizer
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
