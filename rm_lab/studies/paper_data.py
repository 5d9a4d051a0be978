"""Paper-size local files for the five domains, built from the bundled samples.

    python -m rm_lab.cli.bench_data --build-only --out .cache/paper_data     # the five files
    python -m rm_lab dataset=five_domains_paper $(python -m rm_lab.cli.bench_data --overrides .cache/paper_data)

The router paper's five domains hold about 140,000 training pairs (conf/dataset/five_domains_paper.yaml).
Offline there is no such data, so this writes one file per domain, in the domain's own hub schema,
by repeating the bundled real rows (rm_lab/data/samples) with a unique tag per copy ("[copy k] " in
front of the prompt, copy k's ids suffixed), so every row is a distinct pair with its own prompt
and the domains' converters, splits, leak check and tokenizer see paper-sized input:

  hh_rlhf    the bundled HH-RLHF dialogues ({chosen, rejected})
  shp        the HH-RLHF pairs in SHP's schema ({history, human_ref_A, human_ref_B, labels, post_id})
  hellaswag  the bundled HellaSwag rows ({ctx, endings, label, ind, source_id, ...})
  dahoas     the HH-RLHF pairs in Dahoas' schema ({prompt, chosen, rejected})
  oasst      the bundled OpenAssistant message trees (nested export)

Each domain gets enough copies that every split reaches the paper's cap once the file is cut by
group (train 1 - test_fraction - validation_fraction of it), so `dataset=five_domains_paper` uses
exactly the paper's pair counts. The files are gzip JSON lines, written once (a file already there
with the same size request is kept).
"""
from __future__ import annotations

import copy
import functools
import gzip
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from rm_lab.core.config import compose
from rm_lab.data.pairs import DropLog
from rm_lab.data.sources import list_files, read_file

DOMAINS = ("hh_rlhf", "shp", "hellaswag", "dahoas", "oasst")
SPLIT_FRACTIONS = ("test_fraction", "validation_fraction")
# SHP and Dahoas have no bundled sample: their rows are the HH-RLHF pairs in their schema
SOURCE = {"hh_rlhf": "hh_rlhf", "shp": "hh_rlhf", "hellaswag": "hellaswag", "dahoas": "hh_rlhf", "oasst": "oasst"}


def paper_caps(overrides: list[str] | None = None) -> dict[str, dict[str, int]]:
    """{domain: {split: cap}} of dataset=five_domains_paper."""
    cfg = compose(["dataset=five_domains_paper", *(overrides or [])])
    caps = cfg.dataset.max_pairs
    return {d: {split: int(caps[split][d]) for split in ("train", "validation", "test")} for d in DOMAINS}


def pairs_needed(caps: dict[str, int], test_fraction: float, validation_fraction: float) -> int:
    """Pairs a file needs so that each split, cut by group, reaches its cap (2% to spare)."""
    train = 1.0 - test_fraction - validation_fraction
    return math.ceil(1.02 * max(caps["train"] / train, caps["validation"] / validation_fraction,
                                caps["test"] / test_fraction))


def sample_rows(domain: str) -> list[dict]:
    """The bundled rows of a domain, in its hub schema."""
    cfg = compose(["dataset=five_domains_sample"])
    paths = cfg.dataset.domains[domain].path
    paths = [paths] if isinstance(paths, str) else list(paths)
    drops = DropLog(domain, "all")
    return [row for path in paths for file in list_files(path) for row in read_file(file, drops)]


@functools.cache
def _hh_pairs() -> list[tuple[str, str, str]]:
    from rm_lab.data.domains.hh_rlhf import split_dialogue

    out = []
    for row in sample_rows("hh_rlhf"):
        try:
            prompt, chosen = split_dialogue(row["chosen"])
            _, rejected = split_dialogue(row["rejected"])
        except Exception:  # noqa: BLE001 - the converter drops these; so does the builder
            continue
        out.append((prompt, chosen, rejected))
    return out


def _tag_tree(node: dict, tag: str, suffix: str, root: bool) -> dict:
    node = dict(node)
    if node.get("message_id"):
        node["message_id"] = f"{node['message_id']}{suffix}"
    if node.get("parent_id"):
        node["parent_id"] = f"{node['parent_id']}{suffix}"
    if root and isinstance(node.get("text"), str):
        node["text"] = tag + node["text"]
    node["replies"] = [_tag_tree(r, tag, suffix, False) for r in node.get("replies") or [] if isinstance(r, dict)]
    return node


def copies(domain: str, k: int, base: list) -> Iterator[dict]:
    """Copy k of the domain's base rows, tagged."""
    tag, suffix = f"[copy {k}] ", f"-c{k}"
    if domain == "hh_rlhf":
        for prompt, chosen, rejected in base:
            yield {"chosen": tag + prompt + chosen, "rejected": tag + prompt + rejected}
    elif domain == "shp":
        for i, (prompt, chosen, rejected) in enumerate(base):
            yield {"history": tag + prompt, "human_ref_A": chosen, "human_ref_B": rejected, "labels": 1,
                   "post_id": f"p{i}{suffix}"}
    elif domain == "dahoas":
        for prompt, chosen, rejected in base:
            yield {"prompt": tag + prompt, "chosen": chosen, "rejected": rejected}
    elif domain == "hellaswag":
        for row in base:
            yield {**row, "ctx": tag + row["ctx"], "ind": f"{row.get('ind')}{suffix}",
                   "source_id": f"{row.get('source_id')}{suffix}"}
    elif domain == "oasst":
        for row in base:
            yield {**row, "message_tree_id": f"{row.get('message_tree_id')}{suffix}",
                   "prompt": _tag_tree(row["prompt"], tag, suffix, True)}
    else:
        raise ValueError(f"unknown domain {domain!r}; valid: {', '.join(DOMAINS)}")


def base_rows(domain: str) -> tuple[list, int]:
    """The rows copied for a domain and the pairs one copy gives."""
    if SOURCE[domain] == "hh_rlhf":
        base = _hh_pairs()
        return base, len(base)
    from hydra.utils import instantiate

    rows = sample_rows(domain)
    converter = instantiate(compose(["dataset=five_domains_sample"]).dataset.domains[domain], path=None)
    per_copy = sum(1 for _ in converter.convert(copy.deepcopy(rows), DropLog(domain, "all")))
    return rows, per_copy


def build(out: str | Path, scale: float = 1.0, overrides: list[str] | None = None) -> dict[str, dict]:
    """Write the five files under `out` (scale < 1: that share of the paper's sizes); returns
    {domain: {"path", "rows", "copies", "pairs_per_copy", "needed"}}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = compose(["dataset=five_domains_paper", *(overrides or [])])
    caps = paper_caps(overrides)
    written = {}
    for domain in DOMAINS:
        node = cfg.dataset.domains[domain]
        needed = pairs_needed({s: max(1, round(c * scale)) for s, c in caps[domain].items()},
                              float(node.get("test_fraction", 0.1)), float(node.get("validation_fraction", 0.1)))
        base, per_copy = base_rows(domain)
        n = math.ceil(needed / per_copy)
        path = out / f"{domain}.jsonl.gz"
        stamp = out / f".{domain}.copies"
        if not (path.exists() and stamp.exists() and stamp.read_text() == str(n)):
            rows = 0
            with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
                for k in range(n):
                    for row in copies(domain, k, base):
                        handle.write(json.dumps(row) + "\n")
                        rows += 1
            stamp.write_text(str(n))
        written[domain] = {"path": str(path), "copies": n, "pairs_per_copy": per_copy, "needed": needed}
    return written


def overrides_for(files: dict[str, dict]) -> list[str]:
    """The command-line overrides that point dataset=five_domains_paper at the built files."""
    return [f"dataset.domains.{d}.path={info['path']}" for d, info in files.items()]


# -- the benchmark: `make bench-data` ---------------------------------------------------------------
JOB = ["++trainer.max_steps=1", "++trainer.limit_val_batches=0", "++trainer.limit_test_batches=1",
       "++trainer.num_sanity_val_steps=0", "logger=none", "checkpoint.last=false", "++checkpoint.best=false"]
REFERENCE = ["dataset=hh_rlhf_sample", "dataset.max_pairs.train=32", "dataset.max_pairs.validation=8",
             "dataset.max_pairs.test=8"]


def tree_pss(pid: int) -> int:
    """Proportional set size in bytes of a process and its descendants (Linux /proc; 0 where it
    cannot be read): memory shared between a job and its forked workers counted once."""
    total, todo = 0, [pid]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def run_job(args: list[str], run_dir: Path) -> dict:
    """`python -m rm_lab ARGS` in a child process stopped after one training step (one test batch):
    its wall and CPU seconds, its peak resident memory (`peak_rss_gb`: the largest single process;
    `peak_tree_gb`: the job with its worker processes, shared pages counted once, sampled every
    0.2 s), and its results' `first_batch_s` (the
    process's age when its first training step began) and `first_step_s` (when that step ended)."""
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "rm_lab", *args, *JOB, f"hydra.run.dir={run_dir}"]
    start = time.perf_counter()
    with open(run_dir.with_suffix(".log"), "w", encoding="utf-8") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        peak_tree = 0
        while (done := os.wait4(child.pid, os.WNOHANG))[0] == 0:
            peak_tree = max(peak_tree, tree_pss(child.pid))
            time.sleep(0.2)
        _, status, usage = done
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    from rm_lab.rundir.layout import RunDir

    path = RunDir(run_dir).results
    results = json.loads(path.read_text()) if path.exists() else {}
    if child.returncode or results.get("status") != "completed":
        raise RuntimeError(f"the job failed ({results.get('error') or f'exit code {child.returncode}'}): "
                           f"see {run_dir.with_suffix('.log')}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_gb": round(usage.ru_maxrss * 1024 / 1e9, 3), "peak_tree_gb": round(peak_tree / 1e9, 3),
            "first_batch_s": round(results["train_time"].get("first_batch_s") or float("nan"), 2),
            "first_step_s": round(results["train_time"].get("first_step_s") or float("nan"), 2),
            "train_pairs": sum(d["pairs"]["train"] for d in results["data"].values()),
            "pairs": {s: sum(d["pairs"][s] for d in results["data"].values()) for s in ("train", "validation", "test")}}


def bench_data(data_dir: str | Path, scale: float = 1.0, overrides: list[str] | None = None,
               work_dir: str | Path | None = None) -> dict:
    """Build the paper-size files, then time two jobs of a sweep on them with an empty cache: the
    first reads, converts, splits, leak-checks and tokenizes every pair (and caches them); the
    second (another seed) starts from the caches. A third, small job on the bundled sample is the
    memory reference: the first job's extra memory is its peak over that job's."""
    import tempfile

    overrides = list(overrides or [])
    load = [round(x, 2) for x in os.getloadavg()]
    files = build(data_dir, scale)
    root = Path(work_dir or tempfile.mkdtemp(prefix="rm_lab_bench_data_"))
    root.mkdir(parents=True, exist_ok=True)
    cache = root / "cache"
    data = ["dataset=five_domains_paper", *overrides_for(files), f"paths.cache_dir={cache}"]
    if scale != 1.0:
        caps = paper_caps()
        data += [f"dataset.max_pairs.{split}.{d}={max(1, round(c[split] * scale))}"
                 for d, c in caps.items() for split in c]
    first = run_job([*data, "seed=0", *overrides], root / "job_0")
    second = run_job([*data, "seed=1", *overrides], root / "job_1")
    reference = run_job([*REFERENCE, f"paths.cache_dir={root / 'cache_reference'}", *overrides], root / "reference")
    if work_dir is None:  # its own temporary folder (1.2 GB of caches at full size): gone once measured; a
        shutil.rmtree(root, ignore_errors=True)  # failed job's folder stays, for its log
    return {"files": {d: {"path": f["path"], "copies": f["copies"]} for d, f in files.items()},
            "first_job": first, "second_job": second, "reference_job": reference,
            "first_job_extra_gb": round(peak(first) - peak(reference), 3),
            "load_average": {"start": load, "end": [round(x, 2) for x in os.getloadavg()]}, "cpus": os.cpu_count(),
            "work_dir": str(work_dir) if work_dir is not None else None}


def peak(job: dict) -> float:
    """A job's peak memory in GB: its own resident peak, or its process tree's where larger."""
    return max(job["peak_rss_gb"], job.get("peak_tree_gb") or 0.0)


def summary_lines(result: dict) -> list[str]:
    first, second = result["first_job"], result["second_job"]
    return [f"first job: {first['train_pairs']:,} train pairs read, converted, split, leak-checked and tokenized; "
            f"first training step at {first['first_batch_s']:.1f} s (done at {first['first_step_s']:.1f} s; "
            f"wall {first['wall_s']:.1f} s, CPU "
            f"{first['cpu_s']:.1f} s), peak memory {first['peak_rss_gb']:.2f} GB (with its tokenizing workers "
            f"{first.get('peak_tree_gb', 0):.2f} GB) "
            f"({result['first_job_extra_gb']:+.2f} GB over a job on the bundled sample)",
            f"second job (cached): first training step at {second['first_batch_s']:.1f} s (done at "
            f"{second['first_step_s']:.1f} s; wall "
            f"{second['wall_s']:.1f} s, CPU {second['cpu_s']:.1f} s), peak memory {second['peak_rss_gb']:.2f} GB",
            f"machine: {result['cpus']} CPUs, load average (1, 5, 15 min) {result['load_average']['start']} at the "
            f"start, {result['load_average']['end']} at the end"]
