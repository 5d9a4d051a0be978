"""method=embedding end to end on the bundled samples with the tiny model; cache reuse."""
from __future__ import annotations

import json

import pytest

from rm_lab.models.ensemble_heads import RULES
from rm_lab.runner.run import run

SMALL = ["method=embedding", "method.hidden=[16]", "method.epochs=3", "method.batch_size=16",
         "method.ensemble_size=3", "method.embed.progress=false"]


@pytest.mark.slow
def test_embedding_run_and_a_second_seed_embeds_nothing(make_cfg, tmp_path):
    run(make_cfg(*SMALL, "seed=0", out="a"))
    on_disk = json.loads((tmp_path / "a" / "results.json").read_text())
    assert on_disk["status"] == "completed" and on_disk["method"] == "embedding_bt"
    emb = on_disk["embedding"]
    assert emb["computed"] > 0 and emb["reused"] == 0
    assert emb["computed"] == emb["distinct"] <= 2 * 3 * (24 + 8 + 12)  # train, validation, test
    assert emb["cache_file"].startswith(str(tmp_path / "cache" / "embeddings"))
    assert "tiny-deberta" in emb["cache_file"] and "len64-first" in emb["cache_file"]
    acc = on_disk["accuracy"]
    assert set(acc["per_domain"]) == {"hh_rlhf", "hellaswag", "oasst"}
    assert all(row["n"] == 12 for row in acc["per_domain"].values())
    ens = on_disk["ensemble"]
    assert set(ens["by_rule"]) == set(RULES) and len(ens["members"]) == 3
    assert ens["by_rule"]["mean"]["average"] == acc["average"]  # the configured rule is the headline
    assert set(on_disk["params"]["by_component"]) == {"heads"}
    assert on_disk["params"]["total"] == 3 * (32 * 16 + 16 + 16 + 1)  # 3 heads: 32 -> 16 -> 1
    assert len(on_disk["train_time"]["per_epoch_s"]) == 3

    second = run(make_cfg(*SMALL, "seed=1", "method.head=clf", out="b"))
    assert second["embedding"]["computed"] == 0
    assert second["embedding"]["reused"] == emb["distinct"]
    assert second["ensemble"]["head"] == "clf" and second["status"] == "completed"


def test_unresolved_method_config_builds_with_the_run_seed():
    # the command line hands the runner an unresolved config: the method must not depend on
    # interpolations outside its own node
    import pytorch_lightning as pl

    from rm_lab.core.config import compose
    from rm_lab.runner.build import build_method

    cfg = compose(["method=embedding", "seed=7"])
    pl.seed_everything(cfg.seed)
    module = build_method(cfg.method, input_dim=8, domains=["a"])
    assert module.seed == 7 and module.heads.k == cfg.method.ensemble_size
