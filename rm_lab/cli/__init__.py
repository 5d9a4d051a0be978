"""Every command a user types, each a thin door into the library: it parses arguments and calls it.

`python -m rm_lab.cli` lists them (COMMANDS below is that list, one line each);
`python -m rm_lab.cli methods` lists the methods and what each declares it can do.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from rm_lab.rundir.layout import RunDir

EXIT_USAGE = 2

# command (as typed after `python -m`) -> what it does
COMMANDS: dict[str, str] = {
    "rm_lab": "train and test one configured run (Hydra; -m for a sweep; --help for the config groups)",
    "rm_lab.score": "rewards and accuracy of a trained run or export on a file of pairs",
    "rm_lab.export": "a completed run as a transformers folder or a portable run folder",
    "rm_lab.serve": "a trained run or export behind OpenRLHF's remote reward protocol (HTTP)",
    "rm_lab.report": f"a sweep's {RunDir.RESULTS} files -> the paper tables, CSV, LaTeX and plots",
    "rm_lab.results": f"check or upgrade {RunDir.RESULTS} files to the current schema",
    "rm_lab.plan": "a run's memory per device from its config, before anything is loaded",
    "rm_lab.bench": "training pairs/s, tokens/s, padding, share of matmul peak, scoring inputs/s",
    "rm_lab.gpu_check": "Baseline and RODOS, paper recipe, fixed steps: pairs/s, bf16 peak share, memory (+TRL)",
    "rm_lab.cli.bench_data": "paper-size data (~140,000 pairs): seconds to the first training step, first job and second",
    "rm_lab.add_domain": "add a domain to a trained RODOS or ARLISS run, reusing its other parts",
    "rm_lab.inference_compare": "ARLISS against RODOS inference time per input on one backbone",
    "rm_lab.param_table": "the router methods' parameter counts against the paper (meta device)",
    "rm_lab.analysis": "base-model choice: benchmark scores against reward-model quality",
    "rm_lab.analysis.stages": "post-training stages against their base model",
    "rm_lab.analysis.zoo": "the base-model zoo's parameter counts from config",
    "rm_lab.embedding_study": "the golden-reward study of embedding-based reward models",
    "rm_lab.embedding_study.sweep": "embedding heads over seeds, every ensemble rule, in one process",
    "rm_lab.embedding_study.speed": "embedding throughput against a bare forward pass",
    "rm_lab.cli methods": "the methods (conf/method, a searchpath's) and what each can do; --table N: Table N's; "
                          "--runs: the paper's rows (--seeds S: every run)",
}


@contextmanager
def config_errors(prog: str, *also: type[BaseException]):
    """A wrong config option or value (Hydra's composition, OmegaConf, rm_lab's value checks), or
    one of the command's own user errors `also` (a missing folder, a damaged run), said in one
    line, `PROG: message`, exit status 2, as `python -m rm_lab` says it; HYDRA_FULL_ERROR=1 keeps
    the traceback of a config error."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from rm_lab.core.errors import ConfigValueError

    try:
        yield
    except (HydraException, OmegaConfBaseException, ConfigValueError, *also) as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1" and not isinstance(err, also):
            raise
        print(f"{prog}: {err}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def no_stray_flags(parser, overrides: list[str]) -> None:
    """An argument left over by `parse_known_args` that looks like a flag is a typo, not a config override."""
    flags = [a for a in overrides if a.startswith("-")]
    if flags:
        parser.error(f"unrecognized arguments: {' '.join(flags)} (config overrides are key=value)")


def count(text: str) -> int:
    """argparse `type=` for a count: an integer >= 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def listing() -> str:
    width = max(len(c) for c in COMMANDS) + len("python -m ")
    return "\n".join(f"{'python -m ' + c:<{width}}  {what}" for c, what in COMMANDS.items())


FLAGS = ("routes", "stores_components", "adds_domains", "inference_compare", "reference")


def methods(argv: list[str] | None = None) -> int:
    """`python -m rm_lab.cli methods [--table N]... [--routes ...] [--long] [hydra.searchpath=[...]]`:
    the `method` choices (one per line, in the tables' row order) that appear in any of the
    tables given and have every capability flag given; --long: what each declares, as a table;
    --runs: the rows the paper prints (each method's `paper_rows`), one line per method:
    "METHOD MODEL,MODEL" (what `make tables PROFILE=paper` sweeps); --runs --seeds 0,1: every
    run, one line each ("method=M model=B seed=S"), then their count."""
    import argparse
    import logging

    from rm_lab.methods.capabilities import TABLES, problems
    from rm_lab.methods.capabilities import methods as registered

    parser = argparse.ArgumentParser(prog="python -m rm_lab.cli methods", description=methods.__doc__)
    parser.add_argument("--table", action="append", choices=TABLES, help="only the methods of this table "
                        "(repeat: of any of them)")
    for flag in FLAGS:
        parser.add_argument("--" + flag.replace("_", "-"), action="store_true", help=f"only those that declare {flag}")
    parser.add_argument("--long", action="store_true", help="a table of what each method declares")
    parser.add_argument("--runs", action="store_true", help="the paper's rows: METHOD MODEL,MODEL per line")
    parser.add_argument("--seeds", help="with --runs: comma-separated seeds; one line per run")
    parser.add_argument("overrides", nargs="*", metavar="hydra.searchpath=[...]",
                        help="config directories whose method/*.yaml count too")
    args = parser.parse_args(argv)
    logging.getLogger("rm_lab.methods.capabilities").setLevel(logging.ERROR)  # printed below instead
    found = registered(args.overrides, table=args.table, **{f: True for f in FLAGS if getattr(args, f)})
    if args.runs:
        print_runs(found, args.seeds)
    elif args.long:
        print("| method | name | label | tables | routes | stores components | adds domains | compared "
              "| components | paper rows (M) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for m in found:
            c = m.capabilities
            rows = ", ".join(f"{r.model}" + (f" {r.params_m:g}" if r.params_m else "") for r in c.paper_rows)
            yes = {True: "yes", False: ""}
            print(f"| {m.choice} | {m.name} | {m.label} | {' '.join(c.tables) or '-'} | {yes[c.routes]} "
                  f"| {yes[c.stores_components]} | {yes[c.adds_domains]} | {yes[c.inference_compare]} "
                  f"| {' '.join(c.components)} | {rows or '-'} |")
    else:
        print("\n".join(m.choice for m in found))
    for why in problems(args.overrides):
        print(f"left out: {why}", file=sys.stderr)
    return 0


def print_runs(found: list, seeds: str | None) -> None:
    """The paper's rows of the methods `found`: per method, or (with seeds) per run and their count."""
    rows = [(m.choice, r.model) for m in found for r in m.capabilities.paper_rows]
    if not seeds:
        for m in found:
            if m.capabilities.paper_rows:
                print(m.choice, ",".join(r.model for r in m.capabilities.paper_rows))
        return
    seeds_list = [s.strip() for s in seeds.split(",") if s.strip()]
    for method, model in rows:
        for seed in seeds_list:
            print(f"method={method} model={model} seed={seed}")
    print(f"{len(rows) * len(seeds_list)} runs: {len(rows)} rows x {len(seeds_list)} seeds")
