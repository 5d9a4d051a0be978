"""A composite method's parts fitted one by one, each in its own Lightning fit.

    schedule = FitSchedule(plan, base_seed=torch.initial_seed())
    for done in schedule.fits(module.component_fit, make_trainer, data, module.device):
        done.name, done.time.wall_s, done.time.epoch_s, done.run_dir   # store the part now: a resume skips it

The parts are fitted in the plan's order (the router, then each covered domain's reward part),
only those the plan trains, each on its own part of the data (`component_fit(name, data)` gives
the fit, a `RewardFit` or `RouterFit` from rm_lab/methods/fitting.py, and the data's subset it
trains on; a part without pairs is skipped) and from its own seed, derived from the run's
seed and the part's position: a part trains the same whichever parts ran before it, so a
resumed run that skips finished parts trains the rest exactly as before. Each fit gets a fresh
trainer from `make_trainer(monitor=..., component=...)` (the runner's), is timed by
`rm_lab.eval.timing.timed_fit` and its peak memory measured (`rm_lab.eval.memory.PeakMemory`);
when it ends, its training state (optimizer, scheduler, gradients, the trainer and its links) is
freed before the next part starts (rm_lab/methods/release.py), so memory does not climb part
after part: the run's peak is its largest part's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl

from rm_lab.data.protocol import PairData
from rm_lab.eval.memory import PeakMemory
from rm_lab.eval.timing import FitTime, timed_fit
from rm_lab.methods.component_plan import ComponentPlan
from rm_lab.methods.release import collect, release_fit

ComponentFit = Callable[[str, PairData], "tuple[pl.LightningModule, PairData]"]


@dataclass(frozen=True)
class FittedComponent:
    """One part's finished fit: its time, the run folder its trainer wrote into and the peak
    memory its fit reached (bytes: the process's resident set on a CPU, allocated CUDA memory
    on a GPU; rm_lab/eval/memory.py)."""

    name: str
    time: FitTime
    run_dir: Path
    peak_bytes: int | None = None


class FitSchedule:
    def __init__(self, plan: ComponentPlan, base_seed: int):
        self.plan, self.base_seed = plan, base_seed

    def seed(self, index: int) -> int:
        """The seed of the part at `index` in the plan's order."""
        return (self.base_seed + 1000 * (index + 1)) % 2**32

    def fits(self, component_fit: ComponentFit, make_trainer, data: PairData, device=None) -> Iterator[FittedComponent]:
        """Fit each part the plan trains, yielding it as soon as its fit has ended."""
        for index, name in enumerate(self.plan.names):
            if name not in self.plan.to_train:
                continue
            pl.seed_everything(self.seed(index), workers=True, verbose=False)
            fit, part = component_fit(name, data)
            if not len(part):
                continue
            trainer = make_trainer(monitor=fit.monitor, component=name)
            root = trainer.strategy.root_device  # where the part trains (the composite stays on the CPU)
            with PeakMemory(root) as peak:
                time = timed_fit(trainer, fit, part, root)
            run_dir = Path(trainer.default_root_dir)
            release_fit(trainer, fit, part)  # the next part starts from the memory this one started from
            del trainer, fit, part
            collect(root)
            yield FittedComponent(name, time, run_dir, peak.bytes)
