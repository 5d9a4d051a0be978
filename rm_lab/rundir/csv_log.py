"""The run's CSV logger: Lightning's CSVLogger, which, resuming, continues csv/metrics.csv.

    python -m rm_lab logger=csv          # conf/logger/csv.yaml: append: ${resume}

Lightning's own writer deletes an existing metrics.csv when it starts, so a resumed run used to
lose the rows of the epochs before the kill. With `append=True` the rows already there are kept
(and their columns with them); `keep_rows(n, before_step)` then cuts the file back to the rows
that were in it when the resumed checkpoint was written, plus the later rows of steps before the
checkpoint's (`rm_lab.runner.checkpoints.LastCheckpoint` records both), so steps logged after
that checkpoint and trained again are not listed twice.
"""
from __future__ import annotations

import csv
import io
import os

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from rm_lab.core.io import write_text_atomic


class AppendingWriter(ExperimentWriter):
    """Lightning's writer that keeps an existing metrics.csv and appends to it."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = sorted(next(csv.reader(handle), []))


class RunCSVLogger(CSVLogger):
    def __init__(self, *args, append: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.append = append

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None and self.append:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingWriter(log_dir=self.log_dir)
        return super().experiment

    @property
    def metrics_file(self) -> str:
        return os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)

    def rows(self) -> int:
        """Data rows in metrics.csv as written so far (call `save()` first to include pending ones)."""
        if not os.path.isfile(self.metrics_file):
            return 0
        with open(self.metrics_file, newline="") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)

    def keep_rows(self, n: int, before_step: int) -> None:
        """metrics.csv cut back to its first `n` data rows and, after them, the rows of steps
        before `before_step` (those logged after the checkpoint was written, before the kill)."""
        if not os.path.isfile(self.metrics_file) or self.rows() <= n:
            return
        with open(self.metrics_file, newline="") as handle:
            header, *rows = list(csv.reader(handle))
        step = header.index("step") if "step" in header else None
        later = [r for r in rows[n:] if step is not None and r[step] and int(float(r[step])) < before_step]
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *rows[:n], *later])
        write_text_atomic(self.metrics_file, buffer.getvalue())
