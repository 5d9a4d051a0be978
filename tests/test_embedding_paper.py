"""The paper's protocol (arXiv 2502.04357): 10 distinct pairs per prompt, ensemble members on
seeded 80% splits, the released Gemma-2B (2048-d) file layout, and
`python -m rm_lab.embedding_study experiment=embedding_paper data.path=DIR` end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch

from rm_lab.core.config import compose
from rm_lab.methods.embedding import EmbeddingRM
from rm_lab.models.resample import member_weights, split_indices
from rm_lab.studies.embedding.annotate import annotate
from rm_lab.studies.embedding.golden import (
    find_golden_name,
    golden_names,
    load_golden_files,
)
from rm_lab.studies.embedding.run import load_sets

NAME = "Gemma2b-sft_Gemma2b_Harmless"  # the reference's <res_gen_model>_<embed_model>_<task>
ROOT = Path(__file__).resolve().parents[1]


# -- annotation pairs: pairs_per_prompt distinct pairs of each prompt's responses ---------------
def _pairs_by_prompt(labels):
    by_prompt: dict[int, list[tuple[int, int]]] = {}
    for (p1, r1), (p2, r2) in zip(labels.first.tolist(), labels.second.tolist()):
        assert p1 == p2  # a per-prompt pair never crosses prompts
        by_prompt.setdefault(p1, []).append((r1, r2))
    return by_prompt


@pytest.mark.parametrize("responses", [2, 4, 5, 6, 10, 40])
def test_per_prompt_pairs_are_distinct_and_min_10_or_all(responses):
    prompts = 25
    rewards = np.random.default_rng(0).normal(size=(prompts, responses))
    labels = annotate(rewards, "per_prompt", 1.0, rng=3, pairs_per_prompt=10)
    want = min(10, responses * (responses - 1) // 2)
    by_prompt = _pairs_by_prompt(labels)
    assert sorted(by_prompt) == list(range(prompts)) and len(labels) == prompts * want
    for pairs in by_prompt.values():
        assert len(pairs) == want
        assert all(a != b for a, b in pairs)  # never a response against itself
        assert len({frozenset(p) for p in pairs}) == want  # no unordered pair twice
        assert all(0 <= a < responses and 0 <= b < responses for a, b in pairs)


def test_per_prompt_pairs_are_seeded_uniform_and_shown_in_random_order():
    rewards = np.random.default_rng(0).normal(size=(3000, 6))  # 15 distinct pairs per prompt
    a = annotate(rewards, "per_prompt", 1.0, rng=7)
    b = annotate(rewards, "per_prompt", 1.0, rng=7)
    c = annotate(rewards, "per_prompt", 1.0, rng=8)
    assert np.array_equal(a.first, b.first) and np.array_equal(a.second, b.second)
    assert np.array_equal(a.first_wins, b.first_wins)
    assert not np.array_equal(a.first, c.first)
    # every one of the 15 pairs is drawn for 10/15 of the prompts
    counts = {frozenset(p): 0 for p in combinations(range(6), 2)}
    for (_, r1), (_, r2) in zip(a.first.tolist(), a.second.tolist()):
        counts[frozenset((r1, r2))] += 1
    share = np.array(list(counts.values())) / 3000
    assert np.allclose(share, 10 / 15, atol=0.04)
    assert 0.45 < (a.first[:, 1] < a.second[:, 1]).mean() < 0.55  # the lower index first half the time


def test_per_prompt_pairs_reject_cross_prompt_and_unknown_schemes():
    rewards = np.zeros((4, 5))
    with pytest.raises(ValueError, match="annotation.cross_prompt=false"):
        annotate(rewards, "per_prompt", 1.0, cross_prompt=True)
    with pytest.raises(ValueError, match="per_prompt"):
        annotate(rewards, "per_pair", 1.0)
    with pytest.raises(ValueError, match="pairs_per_prompt must be >= 1"):
        annotate(rewards, "per_prompt", 1.0, pairs_per_prompt=0)
    counted = annotate(rewards, 50, 1.0, rng=0)  # the count scheme is still there
    assert len(counted) == 50


# -- ensemble members: bootstrap resamples or seeded 80% splits --------------------------------
@pytest.mark.parametrize("n", [10, 103, 1000])
def test_split_members_train_on_seeded_80_percent_subsets(n):
    weights = member_weights("split", n, k=5, seed=123)
    assert weights.shape == (5, n) and set(weights.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(weights.sum(1), torch.full((5,), float(n * 4 // 5)))  # floor(0.8 n) distinct pairs
    assert len({tuple(row.tolist()) for row in weights}) == 5  # members differ
    for i, row in enumerate(weights):
        subset = torch.nonzero(row).flatten().numpy()
        assert np.array_equal(subset, np.sort(split_indices(n, i)))
        drawn = np.random.RandomState(42 + i).permutation(n)[n - n * 4 // 5:]  # seed 42 + i, no replacement
        assert np.array_equal(subset, np.sort(drawn))
    assert torch.equal(member_weights("split", n, k=5, seed=0), weights)  # the reference's seeds, not the run's


def test_split_is_the_reference_train_test_split():
    sklearn = pytest.importorskip("sklearn.model_selection")
    for i in range(3):
        train, _ = sklearn.train_test_split(np.arange(257), test_size=0.2, random_state=42 + i)
        assert np.array_equal(split_indices(257, i), train)


def test_bootstrap_and_none_member_weights():
    boot = member_weights("bootstrap", 200, k=3, seed=1)
    assert torch.equal(boot.sum(1), torch.full((3,), 200.0))
    assert (boot > 1).any(1).all() and (boot == 0).any(1).all()  # drawn with replacement
    assert torch.equal(member_weights("none", 200, k=3, seed=1), torch.ones(3, 200))
    assert torch.equal(member_weights("split", 200, k=1, seed=1), torch.ones(1, 200))  # a lone head sees all
    with pytest.raises(ValueError, match=r"method.resample must be one of \['bootstrap', 'split', 'none'\]"):
        member_weights("bagging", 10, k=2, seed=0)


def test_method_resample_option_and_the_former_bootstrap_key():
    rm = EmbeddingRM(["a"], input_dim=4, hidden=[4], ensemble_size=3, resample="split", seed=9)
    rm.set_member_weights(40)
    assert torch.equal(rm.pair_weights, member_weights("split", 40, 3, 9))
    assert torch.equal(rm.pair_weights.sum(1), torch.full((3,), 32.0))
    with pytest.warns(FutureWarning, match="method.resample"):
        assert EmbeddingRM(["a"], input_dim=4, hidden=[4], ensemble_size=2, bootstrap=True).resample == "bootstrap"
    with pytest.warns(FutureWarning, match="method.resample"):
        assert EmbeddingRM(["a"], input_dim=4, hidden=[4], ensemble_size=2, bootstrap=False).resample == "none"
    with warnings.catch_warnings(), pytest.raises(ValueError, match="method.resample"):
        warnings.simplefilter("ignore")
        EmbeddingRM(["a"], input_dim=4, hidden=[4], ensemble_size=2, bootstrap=True, resample="split")
    with pytest.raises(ValueError, match="method.resample must be one of"):
        EmbeddingRM(["a"], input_dim=4, resample="bagging")


def test_configs_name_the_resample_scheme():
    from rm_lab.runner.build import build_method

    assert compose(["method=embedding"]).method.resample == "bootstrap"
    old = compose(["method=embedding", "method.bootstrap=false", "method.ensemble_size=2"])
    with pytest.warns(FutureWarning, match="bootstrap=False runs as resample=none"):
        assert build_method(old.method, input_dim=4, domains=["a"], seed=0).resample == "none"
    gemma = compose(["experiment=embedding_five_domains"])
    assert gemma.method.resample == "split" and gemma.method.ensemble_size == 10
    assert list(gemma.method.hidden) == [1024, 512] and gemma.dataset.name.startswith("five_domains")
    assert compose(config_name="embedding_study").heads.resample == "bootstrap"


# -- the released layout: embd_<name>_<split>.npy (prompts, responses, 2048), rewards (.., .., 1)
def write_reference_files(folder: Path, name: str = NAME, train=(24, 10), test=(6, 20), dim=2048,
                          seed=0, rank=8) -> Path:
    """Seeded files in the reference layout: embeddings of rank `rank` in `dim` dimensions with a
    golden reward linear in the latent factors (so a head can learn it from a few pairs)."""
    rng = np.random.default_rng(seed)
    mix, direction = rng.normal(size=(rank, dim)) / np.sqrt(rank), rng.normal(size=rank)
    folder.mkdir(parents=True, exist_ok=True)
    for split, (prompts, responses) in (("train", train), ("test", test)):
        latent = rng.normal(size=(prompts, responses, rank))
        np.save(folder / f"embd_{name}_{split}.npy", (latent @ mix).astype(np.float32))
        np.save(folder / f"reward_{name}_{split}.npy", (latent @ direction)[..., None].astype(np.float32))
    return folder


def test_reader_takes_2048_dim_reference_files_and_checks_the_width(tmp_path):
    folder = write_reference_files(tmp_path / "embd")
    assert golden_names(folder) == [NAME] and find_golden_name(folder) == NAME
    train = load_golden_files(folder, NAME, "train", dim=2048)
    assert train.embeddings.shape == (24, 10, 2048) and train.rewards.shape == (24, 10)
    assert isinstance(train.embeddings, np.memmap)  # float32, prompt-major: read lazily
    assert np.array_equal(train.embeddings, np.load(folder / f"embd_{NAME}_train.npy"))
    with pytest.raises(ValueError, match=r"2048-dimensional.*data.dim=768.*data.dim=2048"):
        load_golden_files(folder, NAME, "train", dim=768)
    small = write_reference_files(tmp_path / "small", dim=768)
    with pytest.raises(ValueError, match="data.dim=768 for these files"):
        load_golden_files(small, NAME, "test", dim=2048)


def test_reader_takes_flat_rows_and_names_bad_shapes(tmp_path):
    rng = np.random.default_rng(1)
    embd, rewards = rng.normal(size=(4, 3, 2048)).astype(np.float32), rng.normal(size=(4, 3, 1))
    np.save(tmp_path / "embd_flat_train.npy", embd.reshape(12, 2048))
    np.save(tmp_path / "reward_flat_train.npy", rewards)
    got = load_golden_files(tmp_path, "flat", "train", dim=2048)
    assert got.meta["layout"] == "flat" and np.array_equal(got.embeddings, embd)
    np.save(tmp_path / "embd_short_train.npy", embd.reshape(12, 2048)[:11])
    np.save(tmp_path / "reward_short_train.npy", rewards)
    with pytest.raises(ValueError, match=r"\(12 rows expected\)"):
        load_golden_files(tmp_path, "short", "train")
    np.save(tmp_path / "embd_wrong_train.npy", embd)
    np.save(tmp_path / "reward_wrong_train.npy", rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="does not match"):
        load_golden_files(tmp_path, "wrong", "train", dim=2048)


def test_study_finds_the_set_or_asks_for_data_name(tmp_path):
    folder = write_reference_files(tmp_path / "embd", train=(5, 4), test=(3, 6), dim=2048)
    cfg = compose(["experiment=embedding_paper", f"data.path={folder}"], config_name="embedding_study")
    train, test = load_sets(cfg.data)
    assert train.name == f"{NAME}_train" and test.embeddings.shape == (3, 6, 2048)
    write_reference_files(folder, name="Gemma2b-sft_Gemma2b_Helpful", train=(5, 4), test=(3, 6))
    with pytest.raises(ValueError, match="data.name=<name>, one of Gemma2b-sft_Gemma2b_Harmless, Gemma2b-sft"):
        load_sets(cfg.data)
    odd = write_reference_files(tmp_path / "odd", train=(5, 4), test=(3, 6), dim=2048)
    np.save(odd / f"embd_{NAME}_test.npy", np.zeros((3, 6, 1024), dtype=np.float32))
    cfg.data.path, cfg.data.dim = str(odd), None
    with pytest.raises(ValueError, match="train embeddings are 2048-dimensional, test embeddings 1024"):
        load_sets(cfg.data)
    cfg.data.path = None
    with pytest.raises(ValueError, match="data.path=DIR"):
        load_sets(cfg.data)


def test_paper_experiment_has_the_reference_settings():
    cfg = compose(["experiment=embedding_paper"], config_name="embedding_study")
    assert cfg.data.source == "files" and cfg.data.dim == 2048
    assert cfg.annotation.pairs == "per_prompt" and cfg.annotation.pairs_per_prompt == 10
    assert list(cfg.annotation.betas) == [0.1, 0.5, 1.0, 10.0]
    h = cfg.heads
    assert (list(h.hidden), h.ensemble_size, h.resample, h.lr, h.epochs) == ([1024, 512], 10, "split", 1e-3, 30)
    assert max(cfg.eval.best_of_n) == 500


def test_the_runner_refuses_a_study_experiment():
    from rm_lab.runner.run import run

    with pytest.raises(ValueError, match="python -m rm_lab.embedding_study experiment=embedding_paper"):
        run(compose(["experiment=embedding_paper"]))


@pytest.mark.slow
def test_documented_command_runs_the_golden_reward_protocol_on_reference_files(tmp_path):
    folder = write_reference_files(tmp_path / "embd")
    out = tmp_path / "study"
    shrink = ["seeds=[0]", "annotation.betas=[null]", "heads.hidden=[64]", "heads.epochs=15", "heads.lr=1e-2",
              "eval.repeats=5", "rules=[single,mean,min]", f"hydra.run.dir={out}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "rm_lab.embedding_study", "experiment=embedding_paper",
                           f"data.path={folder}", *shrink], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    study = json.loads((out / "study.json").read_text())
    assert study["status"] == "completed" and study["synthetic"] is False
    assert study["shapes"] == {"train": [24, 10, 2048], "test": [6, 20, 2048]}
    assert study["data"]["train"]["name"] == f"{NAME}_train" and study["data"]["train"]["dim"] == 2048
    assert study["config"]["heads"]["resample"] == "split" and study["config"]["heads"]["ensemble_size"] == 10
    assert all(row["pairs"] == 24 * 10 for row in study["runs"])  # 10 distinct pairs per training prompt
    golden = np.load(folder / f"reward_{NAME}_test.npy")[..., 0]
    for row in study["summary"]:
        bon = row["best_of_n"]
        assert set(bon) == {"1", "2", "5", "10"}  # N up to the 20 test responses
        assert golden.min(1).mean() <= bon["10"]["mean"] <= golden.max(1).mean()
        assert row["bon_gain"]["10"]["mean"] > 0  # the heads learned the golden reward from perfect labels
        assert row["spearman"]["mean"] > 0.5
    assert "golden reward BoN N=10" in done.stdout and NAME in done.stdout
    assert (out / "best_of_n.png").exists()
