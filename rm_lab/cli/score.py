"""Score a file with a trained reward model: `python -m rm_lab.score MODEL FILE`.

    python -m rm_lab.score RUN_DIR pairs.jsonl --out scores.jsonl        # {prompt, chosen, rejected} rows
    python -m rm_lab.score RUN_DIR responses.jsonl --out scores.jsonl    # {prompt, response} rows
    python -m rm_lab.score RUN_DIR shp_test.jsonl.gz --domain shp        # a domain's hub schema
    python -m rm_lab.score RUN_DIR rows.jsonl --batch-size 16 --device cpu
    python -m rm_lab.score RUN_DIR rows.jsonl --precision bf16                # bf16 autocast: faster, rewards within ~1e-2
    python -m rm_lab.score RUN_DIR rows.jsonl --precision int8                # int8 linear layers (CPU): fastest, approximate

MODEL is the folder of a completed run (see rm_lab/inference/scorer.py for what is loaded). FILE is a
`.jsonl`, `.json`, `.parquet` or `.csv` file (optionally `.gz`), or a folder of them, holding
either
- plain rows: `{prompt, chosen, rejected}` (a pair) or `{prompt, response}` (one response),
  mixed as you like; or
- with `--domain DOMAIN` (a `conf/domain/` name: hh_rlhf, shp, hellaswag, dahoas, oasst,
  helpsteer2, rewardbench), rows in that domain's hub schema, converted by the domain's own
  converter, every pair and no split (a row may give several pairs, e.g. an OpenAssistant tree).

`--out` (a new file; `--force` replaces an existing one; never the input file nor a file inside
a run or export folder, which are refused before any work) gets one JSON line per scored row, in input order: `reward_chosen` and
`reward_rejected` for a pair, `reward` for a response; plain rows carry `row` (the row's
position, from 0, among the file's rows that parse: a line that is not JSON is no row), `line`
(its line in a JSON-lines file, from 1, blank and bad lines counted: what to join scores back on),
`file` (when FILE is a folder: the file, relative to it) and the row's own `id` when it has one; hub-schema rows carry the pair's `id` and `domain` (a
RewardBench file is read once per subset, so its pairs come subset by subset). The summary
gives the rows scored, strict pairwise accuracy (chosen > rejected; a tie is not a win) with
ties counted apart, and the rows dropped by reason: malformed rows (invalid JSON, missing or
empty fields, chosen equal to rejected, ...) are counted and skipped. A missing file, a file
where no row can be scored, or a MODEL that is not a scorable run exits with status 2 and says why,
at once (before torch, Lightning and transformers load), and writes nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from rm_lab.core.config import CONF_DIR, choices
from rm_lab.rundir.layout import RunDir

EXIT_USAGE = 2


def domain_choices() -> list[str]:
    return choices("domain")


def read_plain(path: str) -> tuple[list[dict], dict[str, int]]:
    """Items {kind: pair|response, row, id?, prompt, ...} of plain rows, and the rows dropped."""
    from rm_lab.data.pairs import DropLog, MalformedRow, make_pair, require_text
    from rm_lab.data.sources import list_files, numbered_rows

    drops = DropLog("rows", "all")
    items: list[dict] = []
    index = 0
    files = list_files(path)
    for file in files:
        for line, row in numbered_rows(file, drops):
            item, where = {"row": index}, f"{file.name}, row {index}"
            if line is not None:  # the row's own line in a JSON-lines file: what a user joins scores on
                item["line"] = line
            if len(files) > 1:
                item["file"] = str(file.relative_to(path))
            index += 1
            if isinstance(row.get("id"), (str, int)) and not isinstance(row.get("id"), bool):
                item["id"] = row["id"]
            try:
                prompt = require_text(row, "prompt", allow_empty=True)
                if "chosen" in row or "rejected" in row:
                    chosen, rejected = require_text(row, "chosen"), require_text(row, "rejected")
                    make_pair("rows", prompt, chosen, rejected)  # the pair checks (chosen != rejected)
                    item.update(kind="pair", prompt=prompt, chosen=chosen, rejected=rejected)
                elif "response" in row:
                    item.update(kind="response", prompt=prompt, response=require_text(row, "response"))
                else:
                    raise MalformedRow("missing_field", "chosen/rejected or response")
            except MalformedRow as bad:
                drops.drop(bad.reason, where)
                continue
            items.append(item)
    return items, drops.to_dict()


def read_domain(path: str, name: str) -> tuple[list[dict], dict[str, dict[str, int]]]:
    """Items of a file in a domain's hub schema (every pair, no split) and the rows dropped per
    domain (a benchmark configured once, RewardBench, reads the file once per subset)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    spec = OmegaConf.load(CONF_DIR / "domain" / f"{name}.yaml")
    domain = instantiate(spec, path=path, hub=None, files=None, _convert_="all")
    items: list[dict] = []
    dropped: dict[str, dict[str, int]] = {}
    for part in domain.expand():
        pairs, dropped[part.name] = part.read_pairs()
        items.extend({"kind": "pair", "id": p.id, "domain": p.domain, "prompt": p.prompt, "chosen": p.chosen,
                      "rejected": p.rejected} for p in pairs)
    return items, dropped


def score_items(scorer, items: list[dict]) -> None:
    """Rewards written into the items (reward_chosen/reward_rejected, or reward)."""
    pairs = [i for i in items if i["kind"] == "pair"]
    responses = [i for i in items if i["kind"] == "response"]
    for item, (chosen, rejected) in zip(pairs, scorer.score_pairs(pairs)):
        item["reward_chosen"], item["reward_rejected"] = chosen, rejected
    for item, reward in zip(responses, scorer.score_responses(responses)):
        item["reward"] = reward


def output_line(item: dict) -> dict:
    keys = ("row", "line", "file", "id", "domain", "reward_chosen", "reward_rejected") if item["kind"] == "pair" else (
        "row", "line", "file", "id", "reward")
    return {k: item[k] for k in keys if k in item}


def summary(items: list[dict], dropped: dict, source: str) -> list[str]:
    pairs = [i for i in items if i["kind"] == "pair"]
    responses = [i for i in items if i["kind"] == "response"]
    lines = [f"scored {len(items)} rows of {source}: {len(pairs)} pairs, {len(responses)} responses"]
    if pairs:
        by_domain: dict[str, Counter] = {}
        for item in pairs:
            outcome = ("won" if item["reward_chosen"] > item["reward_rejected"]
                       else "tied" if item["reward_chosen"] == item["reward_rejected"] else "lost")
            by_domain.setdefault(item.get("domain", ""), Counter())[outcome] += 1
        total = sum(by_domain.values(), Counter())
        rows = list(by_domain.items()) if len(by_domain) > 1 else []
        for name, c in [("pairs", total), *rows]:
            n = sum(c.values())
            lines.append(f"{name}: accuracy {c['won'] / n:.4f} over {n} (won {c['won']}, tied {c['tied']}, "
                         f"lost {c['lost']}; a tie is not a win)")
    if responses:
        mean = sum(i["reward"] for i in responses) / len(responses)
        lines.append(f"responses: {len(responses)}, mean reward {mean:.4f}")
    if all(isinstance(v, int) for v in dropped.values()):  # plain rows: {reason: n}
        groups = {(): dropped} if dropped else {}
    else:  # hub schema: {domain: {reason: n}}; domains that dropped the same rows are listed together
        same: dict[tuple, list[str]] = {}
        for name, reasons in dropped.items():
            if reasons:
                same.setdefault(tuple(sorted(reasons.items())), []).append(name)
        groups = {tuple(names): dict(reasons) for reasons, names in same.items()}
    if not groups:
        lines.append("dropped: none")
    for names, reasons in groups.items():
        where = "" if not names else f" ({names[0]})" if len(names) == 1 else (
            f" (each of {len(names)} domains: {', '.join(names)})")
        lines.append(f"dropped{where}: {sum(reasons.values())} rows: "
                     + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())))
    return lines


def check_out(out: str, source: str, force: bool = False) -> Path:
    """Where `--out` may write, checked before any work (ValueError saying why not): a file path,
    never a folder, never the input (`source`: FILE, a file or a folder of them) nor a file inside
    a run or export folder (even with --force); an existing file only with `force`."""
    from rm_lab.data.sources import list_files
    from rm_lab.rundir.finished import holding_folder

    path = Path(out).expanduser()
    if path.is_dir():
        raise ValueError(f"--out {out} is a folder: give a file to write, e.g. --out {path / 'scores.jsonl'}")
    target = path.resolve()
    given = Path(source).expanduser().resolve()
    inputs = [Path(f).resolve() for f in list_files(source)]
    if target in inputs or (path.exists() and any(os.path.samefile(path, f) for f in inputs)):
        raise ValueError(f"--out {out} is the input file {source}: the scores never replace what they score "
                         "(not even with --force); give another file")
    if given.is_dir() and given in target.parents:
        raise ValueError(f"--out {out} is inside the input folder {source}, where it would be read as input next "
                         "time; write it elsewhere")
    held = holding_folder(target.parent)
    if held is not None:
        raise ValueError(f"--out {out} is inside the {held[1]} folder {held[0]}, whose files only rm_lab's "
                         f"{'runner' if held[1] == 'run' else 'export'} writes (not even with --force): write the "
                         "scores elsewhere, e.g. --out scores.jsonl in another folder")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise ValueError(f"--out {out} exists and is not a regular file: give a file path")
        if not force:
            raise ValueError(f"--out {out} already exists: add --force to replace it, or give another file")
    return path


def write_lines(path: Path, items: list[dict], force: bool = False) -> None:
    """The rewards as JSON lines, written atomically; an existing file is replaced only with `force`
    (and never one that appeared while scoring, without it)."""
    from rm_lab.core.new_file import new_file

    with new_file(path, overwrite=force) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(output_line(item), ensure_ascii=False) + "\n" for item in items)


def fail(message: str) -> int:
    print(f"python -m rm_lab.score: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rm_lab.score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help=f"folder of a completed run (holds {RunDir.RESULTS})")
    parser.add_argument("file", help="rows to score: plain {prompt, chosen, rejected} / {prompt, response} rows, "
                                     "or a domain's hub schema with --domain")
    parser.add_argument("--out", help="JSON lines of rewards, one per scored row, in input order (a new file: "
                                      "never the input, nor a file in a run or export folder)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--domain", help=f"read FILE in this domain's hub schema: {', '.join(domain_choices())}")
    parser.add_argument("--batch-size", type=int, help="pairs per batch (default: the run's dataset.eval_batch_size)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available, else cpu)")
    parser.add_argument("--precision", choices=("run", "fp32", "bf16", "int8"), default="run",  # set_precision
                        help="run: the run's trainer.precision (default); fp32; bf16: bf16 autocast, about "
                             "2x faster on CPUs with AVX512-BF16 or AMX and on GPUs, rewards within ~1e-2; "
                             "int8: the backbone's linear layers in int8 (CPU only, rm_lab/models/int8.py), "
                             "faster still, rewards within a few 1e-2, so near-ties can flip (see make bench)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from rm_lab.data.sources import list_files
    from rm_lab.rundir.finished import completed_results, run_config, run_folder

    try:  # a wrong MODEL, or a stored config naming a target rm_lab does not build, fails before FILE is read
        model = run_folder(args.model)
        run_config(completed_results(model), RunDir(model).results)
    except (OSError, ValueError) as err:
        return fail(f"cannot load the model {args.model}: {err}")
    try:
        list_files(args.file)
    except (FileNotFoundError, ValueError) as err:
        return fail(str(err))
    if args.out:
        try:
            out = check_out(args.out, args.file, args.force)
        except (OSError, ValueError) as err:
            return fail(str(err))
    if args.domain is not None and args.domain not in domain_choices():
        return fail(f"unknown --domain {args.domain!r}; valid: {', '.join(domain_choices())}")
    if args.batch_size is not None and args.batch_size < 1:
        return fail(f"--batch-size must be >= 1, got {args.batch_size}")

    try:
        items, dropped = read_domain(args.file, args.domain) if args.domain else read_plain(args.file)
    except (OSError, ValueError) as err:  # e.g. a top-level JSON list that does not parse
        return fail(f"cannot read {args.file}: {err}")

    if not items:  # said before the model loads; nothing is written
        return fail(f"no row of {args.file} could be scored ({'; '.join(summary(items, dropped, args.file)[1:])}): "
                    "plain rows need prompt, "
                    "chosen and rejected, or prompt and response; a file in a domain's hub schema needs "
                    "--domain DOMAIN")

    from rm_lab.core.hub import HubUnavailable  # torch, Lightning and transformers: only once the input is good
    from rm_lab.inference.scorer import load_reward_model

    try:
        scorer = load_reward_model(args.model, device=args.device, batch_size=args.batch_size,
                                   progress=not args.no_progress)
    except (OSError, ValueError, HubUnavailable, ImportError) as err:
        # no stored weights, an unreachable or missing backbone, a config this rm_lab cannot build
        return fail(f"cannot load the model {args.model}: {err}")

    try:
        scorer.set_precision(args.precision)
    except ValueError as err:  # int8 where it does not apply
        return fail(f"--precision {args.precision}: {err}")
    score_items(scorer, items)
    if args.out:
        try:
            write_lines(out, items, args.force)
        except OSError as err:  # it appeared while scoring (without --force), or cannot be written
            return fail(f"cannot write --out {args.out}: {err}")
    print(f"model: {scorer.method} on {scorer.backbone.name} ({scorer.run_dir})")
    print("\n".join(summary(items, dropped, args.file)))
    if args.out:
        print(f"rewards written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
