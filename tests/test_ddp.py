"""Multi-process runs on CPU (trainer=cpu_ddp: 2 processes, gloo): test counts summed over
processes, each test pair counted once, one results.json written by the first process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rm_lab.runner.run import run

pytestmark = pytest.mark.slow

TINY = ["model=tiny-deberta", "dataset.max_pairs.train=8", "dataset.max_pairs.test=7", "dataset.batch_size=4",
        "dataset.eval_batch_size=4", "logger=csv"]


def _ddp(tmp_path: Path, *overrides: str) -> dict:
    out = tmp_path / "ddp"
    env = {**os.environ, "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "rm_lab", *TINY, "trainer=cpu_ddp", *overrides,
                           f"hydra.run.dir={out}", f"paths.cache_dir={tmp_path / 'cache'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted(p.relative_to(out) for p in out.rglob("results.json"))
    assert files == [Path("results.json")], files  # one results file, from the first process
    return json.loads((out / "results.json").read_text())


def test_two_processes_score_the_test_set_like_one(make_cfg, tmp_path):
    single = run(make_cfg(*TINY, "train=false"))
    double = _ddp(tmp_path, "train=false")
    assert double["status"] == "completed"
    assert double["config"]["trainer"]["devices"] == 2 and double["processes"] == 2
    for name, row in single["accuracy"]["per_domain"].items():
        other = double["accuracy"]["per_domain"][name]
        assert (other["won"], other["tied"], other["lost"], other["n"]) == (row["won"], row["tied"], row["lost"],
                                                                          row["n"]), name
    assert double["accuracy"]["n"] == 21  # 7 per domain, an odd count: nothing padded or repeated
    assert double["accuracy"]["average"] == pytest.approx(single["accuracy"]["average"])
    assert double["accuracy"]["loss"] == pytest.approx(single["accuracy"]["loss"], rel=1e-4)


def test_two_processes_train_a_step(tmp_path):
    results = _ddp(tmp_path, "trainer.limit_train_batches=1")
    assert results["status"] == "completed"
    assert len(results["train_time"]["per_epoch_s"]) == 1
    assert results["accuracy"]["n"] == 21


GROUPED_RANKS = """
import json, sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from rm_lab.data.loaders import seeded_loader

def rank_main(rank, folder):
    dist.init_process_group("gloo", init_method=f"file://{folder}/group", rank=rank, world_size=2)
    lengths = [(7 * i) % 61 + 3 for i in range(50)]
    loader = seeded_loader(list(range(50)), 4, True, lambda rows: rows, seed=5, lengths=lengths, window=3)
    epochs = [[batch for batch in loader] for _ in range(2)]
    with open(f"{folder}/rank{rank}.json", "w") as f:
        json.dump({"sampler": type(loader.sampler).__name__, "epochs": epochs, "lengths": lengths}, f)
    dist.destroy_process_group()

if __name__ == "__main__":
    mp.spawn(rank_main, args=(sys.argv[1],), nprocs=2)
"""


def test_two_processes_train_on_shared_length_grouped_batches(tmp_path):
    """In a gloo process group the training loader keeps length grouping: both processes draw the
    same grouped epoch from the seed and split its batches, so together they serve every pair."""
    script = tmp_path / "ranks.py"
    script.write_text(GROUPED_RANKS)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["sampler"] for r in ranks] == ["ShardedGroupedRows"] * 2
    lengths = ranks[0]["lengths"]
    for epoch in range(2):
        mine, theirs = ranks[0]["epochs"][epoch], ranks[1]["epochs"][epoch]
        assert len(mine) == len(theirs) == 7  # 13 grouped batches of 4 (50 pairs), evened to 14
        assert {i for b in mine + theirs for i in b} == set(range(50))
        spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in mine + theirs)
        assert spread < 0.5 * 14 * (max(lengths) - min(lengths))  # grouped: lengths close within a batch
    assert ranks[0]["epochs"][0] != ranks[0]["epochs"][1]  # a new order each epoch



ACCURACY_RANK = """
import json, sys
import torch
import torch.distributed as dist
from rm_lab.eval.metrics import PairwiseAccuracy

folder, rank = sys.argv[1], int(sys.argv[2])
dist.init_process_group("gloo", init_method=f"file://{folder}/group", rank=rank, world_size=2)
chosen, rejected, domain = (torch.tensor(json.loads(t))[rank::2] for t in sys.argv[3:])  # every other pair
metric = PairwiseAccuracy(["a", "b", "c"])
metric.update(chosen, rejected, domain)
mine = metric.compute()["n"]
metric.reset()
metric.update(chosen, rejected, domain)
metric.sync()                                  # what sync_counters does in a multi-process run
with open(f"{folder}/rank{rank}.json", "w") as f:
    json.dump({"mine": mine, "all": metric.compute()}, f)
dist.destroy_process_group()
"""


def test_accuracy_metric_sums_over_two_gloo_processes_like_one(tmp_path):
    """The pairwise accuracy metric synced over 2 gloo processes, each holding half of the pairs,
    gives on both the counts and loss one process gets from all pairs."""
    import torch

    from rm_lab.eval.metrics import PairwiseAccuracy

    g = torch.Generator().manual_seed(3)
    pairs = (torch.randint(0, 3, (41,), generator=g).float(), torch.randint(0, 3, (41,), generator=g).float(),
             torch.randint(0, 3, (41,), generator=g))
    metric = PairwiseAccuracy(["a", "b", "c"])
    metric.update(*pairs)
    single = metric.compute()
    script = tmp_path / "rank.py"
    script.write_text(ACCURACY_RANK)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path), str(rank),
                               *(json.dumps(t.tolist()) for t in pairs)], env=env, stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "".join(errors)[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["mine"] for r in ranks] == [21, 20] and single["n"] == 41
    for rank in ranks:
        synced = rank["all"]
        assert {d: {k: v for k, v in row.items() if k != "loss"} for d, row in synced["per_domain"].items()} == \
            {d: {k: v for k, v in row.items() if k != "loss"} for d, row in single["per_domain"].items()}
        assert synced["loss"] == pytest.approx(single["loss"], rel=1e-12)
        assert (synced["average"], synced["ties"]) == (single["average"], single["ties"])
