"""The GPU check runs end to end on the CPU (tiny model, few steps), so it cannot rot."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from rm_lab.studies.gpu_check import check

FIGURES = {"bf16_matmul_peak", "pairs_per_s", "percent_of_bf16_peak", "peak_memory_gb"}


@pytest.mark.slow
def test_the_check_prints_one_json_line_per_figure_for_each_method():
    out = io.StringIO()
    lines = check("tiny-deberta", ["baseline", "rodos"], steps=1, batch=2, max_length=32, out=out)
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert printed == lines  # JSON lines only: the runs' own reports go to their logs
    assert {line["figure"] for line in lines} == FIGURES
    for method in ("baseline", "rodos"):
        mine = {line["figure"]: line["value"] for line in lines if line["method"] == method}
        assert mine["pairs_per_s"] > 0 and mine["percent_of_bf16_peak"] > 0 and mine["peak_memory_gb"] > 0.05


def _trl_python() -> str | None:
    python = os.environ.get("TRL_PYTHON")
    return python if python and Path(python).exists() else None


@pytest.mark.slow
@pytest.mark.skipif(_trl_python() is None, reason="TRL_PYTHON names no interpreter with TRL (it has its own virtualenv)")
def test_trl_runs_on_the_same_pairs():
    lines = check("tiny-deberta", ["baseline"], steps=1, batch=2, max_length=32, trl_python=_trl_python(),
                  out=io.StringIO())
    trl = [line for line in lines if line["figure"] == "trl_pairs_per_s"]
    assert len(trl) == 1 and trl[0]["value"] > 0
