"""The golden-reward study: annotation noise, metrics with known answers, the authors' file
layout, the synthetic testbed, and the case study end to end (tiny)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rm_lab.core.config import compose
from rm_lab.studies.embedding.annotate import annotate
from rm_lab.studies.embedding.golden import load_golden_files
from rm_lab.studies.embedding.metrics import (
    best_of_n,
    pairwise_accuracy,
    spearman_per_prompt,
)
from rm_lab.studies.embedding.run import run_study
from rm_lab.studies.embedding.synthetic import golden_reward, synthetic_testbed


@pytest.mark.parametrize("beta", [0.25, 0.5, 2.0])
def test_annotator_agreement_matches_the_bradley_terry_formula(beta):
    # two responses per prompt with rewards 0 and d: std(r) = d / 2, so every pair has
    # |r1 - r2| / std(r) = 2 and the annotator agrees with the golden order w.p. sigmoid(2 beta)
    rewards = np.tile([0.0, 3.0], (500, 1))
    labels = annotate(rewards, 40_000, beta, rng=1)
    expected = 1 / (1 + np.exp(-2 * beta))
    assert labels.agreement(rewards) == pytest.approx(expected, abs=0.01)
    assert np.allclose(np.maximum(labels.prob, 1 - labels.prob), expected)


def test_perfect_annotator_and_pair_kinds():
    rewards = np.random.default_rng(0).normal(size=(30, 6))
    same = annotate(rewards, 2000, None, cross_prompt=False, rng=0)
    assert same.agreement(rewards) == 1.0
    assert (same.first[:, 0] == same.second[:, 0]).all() and (same.first[:, 1] != same.second[:, 1]).all()
    cross = annotate(rewards, 2000, 1.0, cross_prompt=True, rng=0)
    assert (cross.first[:, 0] != cross.second[:, 0]).all()
    with pytest.raises(ValueError, match="beta must be >= 0"):
        annotate(rewards, 10, -1.0)


def test_best_of_n_known_answers():
    golden = np.random.default_rng(0).normal(size=(20, 8))
    perfect = best_of_n(golden, golden, ns=(1, 2, 8, 30), repeats=20)
    assert list(perfect) == [1, 2, 8]  # N is capped at the responses available
    assert perfect[8]["mean"] == pytest.approx(golden.max(1).mean())
    assert perfect[8]["std"] == pytest.approx(0.0, abs=1e-12)
    assert perfect[1]["gain"] == 0.0
    worst = best_of_n(-golden, golden, ns=(8,), repeats=3)
    assert worst[8]["mean"] == pytest.approx(golden.min(1).mean())
    # responses 0..R-1 ranked perfectly: E[max of a random k-subset] = k (R + 1) / (k + 1) - 1
    ranks = np.tile(np.arange(10.0), (50, 1))
    k3 = best_of_n(ranks, ranks, ns=(3,), repeats=4000, seed=1)[3]["mean"]
    assert k3 == pytest.approx(3 * 11 / 4 - 1, abs=0.05)


def test_spearman_and_pairwise_accuracy_known_answers():
    golden = np.random.default_rng(1).normal(size=(15, 12))
    assert spearman_per_prompt(golden ** 3, golden) == pytest.approx(1.0)
    assert spearman_per_prompt(-golden, golden) == pytest.approx(-1.0)
    first, second = np.array([[0, 0], [0, 1], [1, 2]]), np.array([[0, 1], [0, 2], [1, 3]])
    scores = golden.copy()
    scores[0, 0], scores[0, 1] = (golden[0, 1], golden[0, 0])  # swap: the first pair turns wrong
    want = np.mean([np.sign(scores[0, 0] - scores[0, 1]) == np.sign(golden[0, 0] - golden[0, 1]),
                    np.sign(scores[0, 1] - scores[0, 2]) == np.sign(golden[0, 1] - golden[0, 2]), True])
    assert pairwise_accuracy(scores, golden, first, second) == pytest.approx(want)
    assert pairwise_accuracy(golden, golden, first, second) == 1.0


def _write_layout(folder, name, split, embd, rewards):
    np.save(folder / f"embd_{name}_{split}.npy", embd)
    np.save(folder / f"reward_{name}_{split}.npy", rewards)


def test_file_loader_reads_both_layouts(tmp_path):
    rng = np.random.default_rng(0)
    embd, rewards = rng.normal(size=(4, 3, 5)).astype(np.float32), rng.normal(size=(4, 3))
    _write_layout(tmp_path, "gen_embed_task", "train", embd, rewards[..., None])  # (P, R, D), (P, R, 1)
    _write_layout(tmp_path, "gen_embed_task", "test", embd.transpose(1, 0, 2), rewards)  # (R, P, D), (P, R)
    for split in ("train", "test"):
        got = load_golden_files(tmp_path, "gen_embed_task", split)
        assert got.source == "files" and np.array_equal(got.embeddings, embd) and np.array_equal(got.rewards, rewards)
    assert load_golden_files(tmp_path, "gen_embed_task", "train", max_prompts=2).prompts == 2
    _write_layout(tmp_path, "bad", "train", embd, rng.normal(size=(5, 5)))
    with pytest.raises(ValueError, match="does not match"):
        load_golden_files(tmp_path, "bad", "train")
    with pytest.raises(FileNotFoundError, match="embd_nope_train.npy"):
        load_golden_files(tmp_path, "nope", "train")


def test_synthetic_testbed_is_labelled_and_shares_its_golden_reward():
    train = synthetic_testbed(6, 4, dim=8, seed=0, split="train")
    test = synthetic_testbed(3, 7, dim=8, seed=1, split="test")
    assert train.source == test.source == "synthetic" and "synthetic" in test.label
    assert train.embeddings.shape == (6, 4, 8) and test.rewards.shape == (3, 7)
    assert np.allclose(golden_reward(test.embeddings.astype(np.float64)), test.rewards, atol=1e-4)
    assert not np.allclose(train.embeddings[:3, :4], test.embeddings[:, :4])


TINY_STUDY = ["data.synthetic.train_prompts=60", "data.synthetic.test_prompts=8", "data.synthetic.test_responses=12",
              "data.synthetic.dim=8", "annotation.pairs=300", "annotation.heldout_pairs=200", "annotation.betas=[2.0]",
              "seeds=[0]", "heads.hidden=[16]", "heads.ensemble_size=3", "heads.epochs=3", "eval.repeats=5"]


def _study_cfg(tmp_path, *overrides):
    cfg = compose([*TINY_STUDY, *overrides], config_name="embedding_study")
    cfg.paths.output_dir = str(tmp_path / "study")
    return cfg


def test_case_study_experiment_overrides_the_defaults():
    cfg = compose(["experiment=embedding_case_study", "data.synthetic.dim=8"], config_name="embedding_study")
    assert cfg.experiment_name == "embedding_case_study"
    assert list(cfg.annotation.betas) == [0.5, 1.0, 3.0, 10.0] and len(cfg.seeds) == 5
    assert cfg.data.synthetic.test_responses == 500 and cfg.data.synthetic.dim == 8  # command line wins


@pytest.mark.slow
def test_case_study_end_to_end_on_the_synthetic_testbed(tmp_path):
    results = run_study(_study_cfg(tmp_path))
    out = tmp_path / "study"
    on_disk = json.loads((out / "study.json").read_text())
    assert not (out / "results.json").exists()  # a study is not a training run
    assert on_disk["status"] == "completed" and on_disk["synthetic"] is True
    assert "synthetic" in on_disk["title"] and "synthetic" in (out / "table.md").read_text()
    assert (out / "best_of_n.png").read_bytes()[:4] == b"\x89PNG"
    rules = {row["rule"] for row in results["summary"]}
    assert rules == {"single", "mean", "min", "mean_minus_var", "mean_minus_std"}
    row = results["summary"][0]
    assert set(row["best_of_n"]) == {"1", "2", "5", "10"}
    assert 0.5 < row["agreement"]["mean"] < 1.0  # beta=2 labels are noisy but informative


@pytest.mark.slow
def test_case_study_reads_the_authors_files(tmp_path):
    train = synthetic_testbed(60, 6, dim=8, seed=0)
    test = synthetic_testbed(8, 12, dim=8, seed=1)
    _write_layout(tmp_path, "g_e_t", "train", train.embeddings, train.rewards[..., None])
    _write_layout(tmp_path, "g_e_t", "test", test.embeddings.transpose(1, 0, 2), test.rewards[..., None])
    results = run_study(_study_cfg(tmp_path, "data.source=files", f"data.path={tmp_path}", "data.name=g_e_t",
                                   "rules=[single,mean]"))
    assert results["source"] == "files" and results["synthetic"] is False
    assert results["shapes"] == {"train": [60, 6, 8], "test": [8, 12, 8]}
    with pytest.raises(ValueError, match="data.name"):
        run_study(_study_cfg(tmp_path, "data.source=files"))


def test_the_tables_spread_is_shown_only_over_several_seeds():
    from rm_lab.studies.embedding.report import table

    def row(n):
        stat = {"mean": 0.5, "std": 0.0 if n == 1 else 0.1, "n": n}
        return {"beta": 1.0, "rule": "mean", "agreement": stat, "best_of_n": {"4": stat}, "bon_gain": {"4": stat},
                "spearman": stat, "pairwise_accuracy": stat}

    one, three = (table([row(n)], "t", [4]).splitlines()[4] for n in (1, 3))
    assert "±" not in one and "0.500" in one  # one seed: no claimed spread of 0
    assert "0.500 ± 0.100" in three
