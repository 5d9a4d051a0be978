"""`python tests/fault_hooks.py FAULT [overrides...]`: `python -m rm_lab` with one fault injected.
This file lives in tests only; the package has no fault switch. In-process tests call the
functions with pytest's `monkeypatch.setattr`, so the fault ends with the test.

    none                 no fault
    hold_at_step=N       after training step N: the CSV logger flushed, <run>/HELD written, then the
                         run waits until killed (a live run to crowd, and to kill with rows logged
                         after its last checkpoint)
    ckpt_enospc_at=N     the N-th checkpoint write (to its temporary file) writes part of the file,
                         then fails as a full disk does (ENOSPC)
"""
from __future__ import annotations

import errno
import io
import os
import sys
import time
from pathlib import Path


def enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def hold_at_step(step: int, patch=setattr) -> None:
    from rm_lab.runner.checkpoints import LastCheckpoint, csv_loggers

    original = LastCheckpoint.on_train_batch_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        original(self, trainer, pl_module, outputs, batch, batch_idx)
        if trainer.global_step == step:
            for lg in csv_loggers(trainer):
                lg.save()
            (Path(trainer.default_root_dir) / "HELD").write_text(str(os.getpid()))
            while True:
                time.sleep(1)

    patch(LastCheckpoint, "on_train_batch_end", on_train_batch_end)


def ckpt_enospc_at(n: int, patch=setattr) -> None:
    import torch
    from lightning_fabric.plugins.io import torch_io

    calls = {"n": 0}
    original = torch_io._atomic_save

    def atomic_save(checkpoint, filepath):
        calls["n"] += 1
        if calls["n"] != n:
            return original(checkpoint, filepath)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with open(filepath, "wb") as handle:  # the disk fills up half way through
            handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise enospc()

    patch(torch_io, "_atomic_save", atomic_save)


def main() -> None:
    fault, *overrides = sys.argv[1:]
    name, _, value = fault.partition("=")
    if name != "none":
        {"hold_at_step": hold_at_step, "ckpt_enospc_at": ckpt_enospc_at}[name](int(value))
    sys.argv = [sys.argv[0], *overrides]
    from rm_lab.cli.train import main as train

    train()


if __name__ == "__main__":
    main()
