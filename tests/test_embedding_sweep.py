"""The in-process seed x head sweep over cached embeddings (tiny model, bundled samples)."""
from __future__ import annotations

import json

import pytest

from rm_lab.models.ensemble_heads import RULES
from rm_lab.studies.embedding.sweep import run_sweep
from rm_lab.studies.embedding.sweep_config import compose_cfg

pytestmark = pytest.mark.slow


def test_sweep_trains_every_head_and_seed_from_one_cache(tmp_path):
    cfg = compose_cfg(["experiment=embedding_heads", "model=tiny-deberta", "dataset.max_pairs.train=16",
                       "dataset.max_pairs.test=8", "sweep.seeds=[0,1]", "sweep.heads=[bt,linear]",
                       "method.hidden=[8]", "method.epochs=2", "method.ensemble_size=2", "method.embed.progress=false",
                       f"paths.cache_dir={tmp_path / 'cache'}"], output_dir=str(tmp_path / "sweep"))
    results = run_sweep(cfg)
    on_disk = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [(r["head"], r["seed"]) for r in on_disk["rows"]] == [("bt", 0), ("bt", 1), ("linear", 0), ("linear", 1)]
    assert all(set(r["by_rule"]) == set(RULES) and len(r["members"]) == 2 for r in on_disk["rows"])
    assert on_disk["embedding"]["computed"] > 0 and on_disk["timing"]["fits"] == 4
    table = (tmp_path / "sweep" / "table.md").read_text()
    assert table.count("| bt |") == len(RULES) and table.count("| linear |") == len(RULES)
    assert results["timing"]["heads_sweep_s"] > 0 and all(r["fit_s"] > 0 for r in results["rows"])
