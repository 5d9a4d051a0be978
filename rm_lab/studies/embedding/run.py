"""The golden-reward case study: single heads against ensembles under annotation noise.

For each annotation quality beta and seed: label random training pairs, train a K-head
ensemble on them, score every test response, and evaluate each ensemble rule by best-of-N
golden reward, Spearman correlation per prompt and pairwise accuracy on held-out test pairs.
Writes study.json (its own record, not a training run's results.json), table.md and
best_of_n.png into the run's folder.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rm_lab.core.io import write_json_atomic, write_text_atomic
from rm_lab.models.ensemble_heads import combine
from rm_lab.rundir.results import versions
from rm_lab.studies.embedding.annotate import annotate
from rm_lab.studies.embedding.checks import SOURCES, check_study
from rm_lab.studies.embedding.fit import fit_heads, predict
from rm_lab.studies.embedding.golden import GoldenSet, find_golden_name, load_golden_files
from rm_lab.studies.embedding.metrics import (
    best_of_n,
    pairwise_accuracy,
    spearman_per_prompt,
)
from rm_lab.studies.embedding.report import plot, table
from rm_lab.studies.embedding.synthetic import synthetic_testbed

log = logging.getLogger("rm_lab.studies.embedding")
STUDY_NAME = "study.json"


def load_sets(data: DictConfig) -> tuple[GoldenSet, GoldenSet]:
    if data.source == "synthetic":
        s = data.synthetic
        make = lambda split, prompts, responses, seed: synthetic_testbed(
            prompts, responses, s.dim, seed=seed, reward_seed=s.reward_seed, response_spread=s.response_spread,
            split=split)
        return (make("train", s.train_prompts, s.train_responses, s.seed),
                make("test", s.test_prompts, s.test_responses, s.seed + 1))
    if data.source == "files":
        if not data.path:
            raise ValueError("data.source=files needs data.path=DIR, the folder with embd_<name>_<split>.npy and "
                             "reward_<name>_<split>.npy (splits train and test), and data.name=<name> when it "
                             "holds several sets, e.g. data.name=Gemma2b-sft_Gemma2b_Harmless")
        name = data.name or find_golden_name(data.path)
        caps = data.max_prompts or {}
        train, test = (load_golden_files(data.path, name, split, data.layout, caps.get(split), data.get("dim"))
                       for split in ("train", "test"))
        if train.embeddings.shape[-1] != test.embeddings.shape[-1]:
            raise ValueError(f"{name}: train embeddings are {train.embeddings.shape[-1]}-dimensional, test "
                             f"embeddings {test.embeddings.shape[-1]}-dimensional; both splits must come from "
                             "the same embedding model")
        return train, test
    raise ValueError(f"data.source must be one of {list(SOURCES)}, got {data.source!r}")


def _stat(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(np.nanmean(arr)), "std": float(np.nanstd(arr)), "n": int(arr.size)}


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    keys = list(dict.fromkeys((r["beta"], r["rule"]) for r in rows))
    for beta, rule in keys:
        group = [r for r in rows if r["beta"] == beta and r["rule"] == rule]
        ns = group[0]["best_of_n"].keys()
        out.append({"beta": beta, "rule": rule, "seeds": [r["seed"] for r in group],
                    "agreement": _stat([r["agreement"] for r in group]),
                    "best_of_n": {n: _stat([r["best_of_n"][n]["mean"] for r in group]) for n in ns},
                    "bon_gain": {n: _stat([r["best_of_n"][n]["gain"] for r in group]) for n in ns},
                    "spearman": _stat([r["spearman"] for r in group]),
                    "pairwise_accuracy": _stat([r["pairwise_accuracy"] for r in group])})
    return out


def run_study(cfg: DictConfig) -> dict:
    check_study(cfg)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    train, test = load_sets(cfg.data)
    title = (f"synthetic testbed, {test.prompts} test prompts x {test.responses} responses"
             if train.source == "synthetic" else
             f"{train.name.removesuffix('_train')} ({test.prompts} test prompts x {test.responses} responses)")
    log.info("study on %s: train %s, test %s", title, train.embeddings.shape, test.embeddings.shape)
    heads = OmegaConf.to_container(cfg.heads, resolve=True)
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True) if cfg.get("trainer") else {}
    ns = [int(n) for n in cfg.eval.best_of_n]
    rows = []
    for b_idx, beta in enumerate(cfg.annotation.betas):
        for seed in cfg.seeds:
            labels = annotate(train.rewards, cfg.annotation.pairs, beta, cfg.annotation.cross_prompt,
                              np.random.default_rng([seed, b_idx]), cfg.annotation.get("pairs_per_prompt", 10))
            agreement = labels.agreement(train.rewards)
            fit_start = time.perf_counter()
            rm = fit_heads(train.embeddings, labels, heads, seed, trainer)
            fit_s = time.perf_counter() - fit_start
            scores = torch.from_numpy(predict(rm, test.embeddings))
            heldout = annotate(test.rewards, cfg.annotation.heldout_pairs, None, False,
                               np.random.default_rng([seed, 10_000]))
            for rule in cfg.rules:
                flat = combine(scores.flatten(1), rule, heads.get("lam", 1.0), heads.get("member", 0))
                pred = flat.reshape(test.rewards.shape).numpy()
                rows.append({"beta": beta, "seed": seed, "rule": rule, "agreement": agreement, "pairs": len(labels),
                             "fit_s": fit_s,
                             "best_of_n": {str(n): v for n, v in best_of_n(pred, test.rewards, ns, cfg.eval.repeats,
                                                                           seed).items()},
                             "spearman": spearman_per_prompt(pred, test.rewards),
                             "pairwise_accuracy": pairwise_accuracy(pred, test.rewards, heldout.first, heldout.second)})
            log.info("beta=%s seed=%s: %d pairs, label agreement %.3f, fit %.1f s", beta, seed, len(labels),
                     agreement, fit_s)
    summary = summarize(rows)
    write_text_atomic(out_dir / "table.md", table(summary, title, [n for n in ns if n <= test.responses]))
    plot(summary, title, out_dir / "best_of_n.png")
    results = {"status": "completed", "study": "embedding_ensembles", "source": train.source, "title": title,
               "synthetic": train.source == "synthetic",
               "shapes": {"train": list(train.embeddings.shape), "test": list(test.embeddings.shape)},
               "data": {split: {"name": s.name, **s.meta} for split, s in (("train", train), ("test", test))},
               "config": OmegaConf.to_container(cfg, resolve=True), "versions": versions(),
               "summary": summary, "runs": rows, "wall_time_s": time.perf_counter() - started,
               "files": {"table": "table.md", "plot": "best_of_n.png"}}
    write_json_atomic(out_dir / STUDY_NAME, results)
    print((out_dir / "table.md").read_text(), flush=True)
    log.info("results written to %s", out_dir)
    return results
