"""A seed x head sweep of method=embedding in one process: the data and the embedding cache
load once, then every (head, seed) ensemble trains with Lightning and is scored under every
ensemble rule. Writes sweep.json and table.md; prints the wall time.

    python -m rm_lab.embedding_study.sweep experiment=embedding_heads
    python -m rm_lab.embedding_study.sweep experiment=embedding_heads model=smollm2-135m sweep.seeds=[0,1]

(`python -m rm_lab experiment=embedding_heads -m seed=0,1,2,3,4 method.head=bt,clf,linear` runs
the same sweep as separate runs, one results.json each.)
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from rm_lab.core.io import write_json_atomic, write_text_atomic
from rm_lab.models.ensemble_heads import RULES
from rm_lab.rundir.results import versions
from rm_lab.runner.build import build_data, build_inputs, build_method, build_trainer

log = logging.getLogger("rm_lab.studies.embedding.sweep")


def table(rows: list[dict], domains: list[str]) -> str:
    lines = ["| head | rule | average accuracy | " + " | ".join(domains) + " |",
             "| --- | --- | ---: |" + " ---: |" * len(domains)]
    for head in dict.fromkeys(r["head"] for r in rows):
        for rule in RULES:
            runs = [r["by_rule"][rule] for r in rows if r["head"] == head]
            avg = np.array([x["average"] for x in runs])
            per = [np.array([x["per_domain"].get(d, np.nan) for x in runs]) for d in domains]
            lines.append(f"| {head} | {rule} | {avg.mean():.3f} ± {avg.std():.3f} | "
                         + " | ".join(f"{p.mean():.3f}" for p in per) + " |")
    return "\n".join(lines) + "\n"


def run_sweep(cfg: DictConfig) -> dict:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    datamodule, backbone = build_data(cfg)
    vectors = build_inputs(cfg, datamodule, backbone)
    ready = time.perf_counter()
    rows = []
    for head in cfg.sweep.heads:
        for seed in cfg.sweep.seeds:
            pl.seed_everything(seed, workers=True, verbose=False)
            module = build_method(cfg.method, data=vectors, domains=vectors.domain_names, head=head, seed=seed)

            def make_trainer(monitor=None, component=None, **overrides):  # the sweep scores the last epoch
                return build_trainer(cfg, enable_progress_bar=False, **overrides)

            fit_s = module.run_training(make_trainer, vectors)["heads"]
            make_trainer().test(module, datamodule=vectors, verbose=False)
            ens = module.extra_results()["ensemble"]
            rows.append({"head": head, "seed": seed, "fit_s": fit_s, "by_rule": ens["by_rule"],
                         "members": ens["members"]})
            log.info("head=%s seed=%s: %s (%.1f s)", head, seed,
                     {r: round(v["average"], 3) for r, v in ens["by_rule"].items()}, fit_s)
    finished = time.perf_counter()
    present = vectors.domains_with_pairs("test")
    text = table(rows, present)
    write_text_atomic(out / "table.md", text)
    results = {"status": "completed", "model": cfg.model.name, "dataset": cfg.dataset.name,
               "ensemble_size": cfg.method.ensemble_size, "embedding": vectors.stats,
               "timing": {"load_and_embed_s": ready - started, "heads_sweep_s": finished - ready,
                          "total_s": finished - started, "fits": len(rows)},
               "rows": rows, "config": OmegaConf.to_container(cfg, resolve=True), "versions": versions()}
    write_json_atomic(out / "sweep.json", results)
    print(text, flush=True)
    print(f"{len(rows)} ensembles ({len(cfg.sweep.heads)} heads x {len(cfg.sweep.seeds)} seeds, "
          f"K={cfg.method.ensemble_size}, {len(RULES)} rules each): sweep {finished - ready:.1f} s, "
          f"data + embeddings {ready - started:.1f} s ({vectors.stats.get('computed')} embedded, "
          f"{vectors.stats.get('reused')} from the cache); written to {out}", flush=True)
    return results
