"""Adding a method is one .py and one .yaml: a test-only method runs, summarises itself and
appears in Table 2 under its own label, with no edit to rm_lab."""
from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rm_lab.core.config import compose
from rm_lab.report.paper_tables import build_tables
from rm_lab.report.render import to_markdown
from rm_lab.rundir.results import load_runs
from rm_lab.runner.run import run

pytestmark = pytest.mark.slow

TEST_CONF = Path(__file__).parent / "conf"


def test_a_test_only_method_runs_and_shows_in_the_summary_and_table_2(tmp_path, capsys):
    cfg = compose(["model=tiny-deberta", "method=toy", f"hydra.searchpath=[file://{TEST_CONF}]",
                   "dataset.max_pairs.train=16", "dataset.max_pairs.test=8", "dataset.batch_size=8",
                   "logger=csv"])
    cfg.paths.output_dir = str(tmp_path / "runs" / "toy" / "seed_0")
    cfg.paths.cache_dir = str(tmp_path / "cache")
    OmegaConf.resolve(cfg)
    results = run(cfg)
    assert results["status"] == "completed" and results["method"] == "toy"
    assert results["labels"]["method"] == "Bag of tokens"
    assert set(results["params"]["by_component"]) == {"bag", "head"}
    printed = capsys.readouterr().out
    assert "bag of tokens: " in printed and " ids x 8 dims" in printed  # the method's own summary line

    (table2,) = build_tables(load_runs(tmp_path / "runs"), ["2"])
    text = to_markdown(table2)
    row = next(line for line in text.splitlines() if "Bag of tokens" in line)
    assert f"{results['accuracy']['average']:.3f}" in row, (row, text)  # its accuracy, in its own row
