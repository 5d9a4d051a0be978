"""Wall-clock timing that means the same for every method.

Clocks synchronize the accelerator before they are read (`synchronize`), so a method whose
kernels run asynchronously is charged its compute, not its kernel launches. Training epochs
are timed by a Lightning callback (`EpochTimer`); one fit, wall time and pure epoch time, by
`timed_fit` (the composite methods time each component's fit with it); inference by one
protocol for all methods: per input (each test pair scored alone, as the router paper measures
it) on the first `per_input_pairs` test pairs, with the batched figure (evaluation batches)
alongside.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytorch_lightning as pl
import torch


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc/self/stat against /proc/uptime), else None."""
    import os
    from pathlib import Path

    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def synchronize(device: torch.device | str | None) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device=None) -> float:
    """perf_counter() after the device's queued work has finished."""
    synchronize(device)
    return time.perf_counter()


def batch_pairs(batch) -> int:
    """The pairs in a training batch (its `domain` holds one gold index per pair)."""
    domain = batch.get("domain") if hasattr(batch, "get") else None
    return int(domain.shape[0]) if domain is not None else 0


class EpochTimer(pl.Callback):
    """Records each training epoch's wall time in seconds (`per_epoch`), without the validation
    passes run inside it and the selection work that follows each (Lightning's checkpoint
    callbacks write the best weights after validation ends): their seconds are
    `validation_per_epoch`, counted until training resumes (the next batch or the epoch's end).
    So training throughput means training alone whatever the validation set's size, the
    checkpoint's size or the disk; and the pairs each epoch actually
    trained on in this process (`pairs_per_epoch`: an epoch cut short by `max_steps` or a time
    limit counts only the batches it ran); `first_step_s`: the process's age when its first
    training step ended (how long a job takes to start training: imports, data, model, and that
    step); `first_batch_s`: its age when that step began (the same without the step's own compute,
    which a long first batch can make many seconds on a CPU).
    Each epoch is tagged with the `component` being fitted when it ran (set before each fit;
    composite methods fit one part after another with the same timer), so `by_component()` gives
    each part's one-epoch time. Its state is kept in checkpoints: a resumed fit lists every epoch,
    and the epoch it resumed in counts the seconds and pairs trained before the checkpoint plus
    those after the resume (Lightning does not start that epoch again)."""

    def __init__(self, component: str = "reward_model"):
        self.per_epoch: list[float] = []
        self.validation_per_epoch: list[float] = []
        self.pairs_per_epoch: list[int] = []
        self.components: list[str] = []   # the component each epoch trained
        self.component = component
        self.first_step_s: float | None = None
        self.first_batch_s: float | None = None
        self._start = None
        self._validation_start = None
        self._validation = 0.0
        self._pairs = 0
        self._carried = (0.0, 0.0, 0)  # (training s, validation s, pairs) of the epoch a checkpoint was taken in

    def _begin(self, pl_module) -> None:
        trained, validated, pairs = self._carried
        self._start = clock(pl_module.device) - trained
        self._validation = validated
        self._pairs = pairs
        self._carried = (0.0, 0.0, 0)

    def on_train_epoch_start(self, trainer, pl_module):
        self._begin(pl_module)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._end_validation(pl_module)
        if self.first_batch_s is None:
            self.first_batch_s = process_age()
        if self._start is None:  # a fit resumed in the middle of an epoch
            self._begin(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._pairs += batch_pairs(batch)
        if self.first_step_s is None:
            self.first_step_s = process_age()

    def on_validation_start(self, trainer, pl_module):
        if self._start is not None:
            self._validation_start = clock(pl_module.device)

    def _end_validation(self, pl_module) -> None:
        """Close a validation window (opened by `on_validation_start`, left open after
        `on_validation_end` so that the checkpoint writes after it count with it)."""
        if self._validation_start is not None:
            self._validation += clock(pl_module.device) - self._validation_start
            self._validation_start = None

    def on_train_epoch_end(self, trainer, pl_module):
        self._end_validation(pl_module)  # the checkpoint callbacks run after this one, outside the epoch
        if self._start is not None:
            self.per_epoch.append(clock(pl_module.device) - self._start - self._validation)
            self.validation_per_epoch.append(self._validation)
            self.pairs_per_epoch.append(self._pairs)
            self.components.append(self.component)
            self._start = None

    def by_component(self) -> tuple[dict[str, float], dict[str, float]]:
        """({component: mean training seconds of one epoch}, {component: mean validation seconds
        per epoch}), validation left out of the first: one epoch of training alone, per part."""
        train: dict[str, list[float]] = {}
        validation: dict[str, list[float]] = {}
        for name, t, v in zip(self.components, self.per_epoch, self.validation_per_epoch):
            train.setdefault(name, []).append(t)
            validation.setdefault(name, []).append(v)
        return ({k: sum(v) / len(v) for k, v in train.items()},
                {k: sum(v) / len(v) for k, v in validation.items()})

    def state_dict(self) -> dict:  # kept in checkpoints, so a resumed run reports every epoch
        running = self._start is not None
        now = time.perf_counter()
        validated = self._validation + (now - self._validation_start if self._validation_start is not None else 0.0)
        trained = now - self._start - validated if running else 0.0
        return {"per_epoch": list(self.per_epoch), "validation_per_epoch": list(self.validation_per_epoch),
                "pairs_per_epoch": list(self.pairs_per_epoch), "components": list(self.components),
                "current_epoch_s": [trained, validated if running else 0.0],
                "current_epoch_pairs": self._pairs if running else 0}

    def load_state_dict(self, state: dict) -> None:
        self.per_epoch = list(state.get("per_epoch", []))
        self.validation_per_epoch = list(state.get("validation_per_epoch", []))
        self.pairs_per_epoch = list(state.get("pairs_per_epoch", []))
        components = list(state.get("components", []))
        self.components = components + [self.component] * (len(self.per_epoch) - len(components))
        trained, validated = state.get("current_epoch_s", [0.0, 0.0])
        self._carried = (float(trained) + float(validated), float(validated), int(state.get("current_epoch_pairs", 0)))
        self._start = None

    @classmethod
    def attached_to(cls, trainer: pl.Trainer) -> EpochTimer | None:
        """The EpochTimer among the trainer's callbacks (None when it has none)."""
        return next((cb for cb in trainer.callbacks if isinstance(cb, cls)), None)


@dataclass(frozen=True)
class FitTime:
    """One fit's time: `wall_s` (the whole `fit` call, with Lightning's per-fit setup) and
    `epoch_s` (one epoch's pure training time, the mean over the fit's epochs)."""

    wall_s: float
    epoch_s: float


def timed_fit(trainer: pl.Trainer, module: pl.LightningModule, datamodule, device=None) -> FitTime:
    """`trainer.fit(module, datamodule=datamodule)`, timed. The epochs come from the trainer's
    `EpochTimer` (the ones this fit added to it); without one, the wall time over the epochs run."""
    timer = EpochTimer.attached_to(trainer)
    seen = len(timer.per_epoch) if timer is not None else 0
    start = clock(device)
    trainer.fit(module, datamodule=datamodule)
    wall = clock(device) - start
    epochs = timer.per_epoch[seen:] if timer is not None else []
    return FitTime(wall, sum(epochs) / len(epochs) if epochs else wall / max(1, trainer.current_epoch))


class InferenceClock:
    """Test-time scoring time: batched (every evaluation batch) and per input: `per_input_pairs`
    test pairs (the run's `inference_samples`; the router paper: 2,500), each scored alone as one
    step (its two texts in one forward pass), as the paper's Table 6 measures seconds per step."""

    def __init__(self, per_input_pairs: int = 32):
        self.per_input_pairs = per_input_pairs
        self.reset()

    def reset(self) -> None:
        self.seconds, self.inputs = 0.0, 0
        self.single_seconds, self.single_inputs, self.single_steps = 0.0, 0, 0

    @property
    def wants_single(self) -> int:
        """How many more pairs the per-input protocol still needs."""
        return max(0, self.per_input_pairs - self.single_inputs // 2)

    def state(self) -> torch.Tensor:
        return torch.tensor([self.seconds, self.inputs, self.single_seconds, self.single_inputs, self.single_steps],
                            dtype=torch.float64)

    def load(self, state: torch.Tensor) -> None:
        values = state.detach().cpu().tolist()
        seconds, inputs, single_seconds, single_inputs = values[:4]
        self.seconds, self.inputs = seconds, round(inputs)
        self.single_seconds, self.single_inputs = single_seconds, round(single_inputs)
        self.single_steps = round(values[4]) if len(values) > 4 else self.single_inputs // 2

    def add(self, seconds: float, inputs: int) -> None:
        self.seconds += seconds
        self.inputs += inputs

    def add_single(self, seconds: float, inputs: int) -> None:
        """One step of the per-input protocol: one pair's texts scored together."""
        self.single_seconds += seconds
        self.single_inputs += inputs
        self.single_steps += 1

    def summary(self) -> dict:
        batched = self.seconds / self.inputs if self.inputs else None
        single = self.single_seconds / self.single_inputs if self.single_inputs else None
        per_step = self.single_seconds / self.single_steps if self.single_steps else None
        return {"seconds_per_input": single if single is not None else batched,
                "protocol": "per_input" if single is not None else "batched",
                "per_input": {"seconds_per_input": single, "inputs": self.single_inputs,
                              "seconds_total": self.single_seconds, "seconds_per_step": per_step,
                              "steps": self.single_steps, "samples": self.per_input_pairs},
                "batched": {"seconds_per_input": batched, "inputs": self.inputs, "seconds_total": self.seconds},
                "seconds_total": self.seconds, "inputs": self.inputs}
