"""The papers' tables from grouped runs: Table 2 (accuracy), 3 (training time), 4 and 5 (train
and test pairs per domain), 6 (inference time) and 7 (backbones), after Namgoong et al. 2024
(arXiv 2407.17546).

    build_tables(runs, ["2", "7"], methods=None, models=None)   # -> [Table, Table]
    build_tables(runs, ["2"], searchpath=["/my/conf"])          # + the methods a searchpath adds
    build_tables(runs, ["2"], paper_rows=True, similar=0.02)    # the paper's 12 rows, its 0.02 rule

Which methods a table expects, in which order, and how a method with no run is labelled come
from the methods themselves (`Capabilities.tables`, `.order`, `.reference` and the class's
`label`, rm_lab/methods/capabilities.py): every method of the `method` config group (plus a
searchpath's) and the class each run's config names. Any other method present is shown too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rm_lab.core.config import choices
from rm_lab.methods import capabilities as registry
from rm_lab.report.grouping import Cell, Column, Row, Table, fill, group_runs, label_of, standard_notes
from rm_lab.report.stats import Summary
from rm_lab.rundir import results as metrics
from rm_lab.rundir.layout import RunDir

DOMAIN_ORDER = ["hh_rlhf", "shp", "hellaswag", "dahoas", "oasst"]
# Domains and backbones; methods name themselves and their parts (results.json `labels`, else the class).
LABELS = {
    "hh_rlhf": "Anthropic HH", "shp": "SHP", "hellaswag": "HellaSwag", "dahoas": "Dahoas",
    "oasst": "OASST",
    "deberta-v3-xsmall": "DeBERTa-v3-xsmall", "deberta-v3-small": "DeBERTa-v3-small",
    "deberta-v3-base": "DeBERTa-v3-base", "deberta-v3-large": "DeBERTa-v3-large",
    "bert-base": "BERT-base", "bert-small": "BERT-small", "roberta-base": "RoBERTa-base",
    "gpt2": "GPT-2", "minilm-l6": "MiniLM-L6", "tiny-deberta": "tiny DeBERTa (random)",
}
TABLES = ("2", "3", "4", "5", "6", "7", "rb2")  # rb2: RewardBench 2, written when a run scored it
METHOD_TABLES = ("2", "3", "6", "7")  # the tables whose rows are methods (Capabilities.tables)
# Under Table 2 whenever HellaSwag is a column: why the paper's HellaSwag column differs from ours.
HELLASWAG_NOTE = ("HellaSwag: the paper's accuracies sit at 0.50 for every method, consistent with its "
                  "unlabelled 10,003-row test split; we test on the labelled validation split.")
# A method's inference time per input in other forms (results.json `inference_time_per_input_<form>`,
# seconds; ARLISS: merged, unmerged), shown in Table 6 beside the run's own figure.
INFERENCE_FORM = "inference_time_per_input_"


def label(name: str) -> str:
    return LABELS.get(name, name)


def component_label(name: str, parts: dict[str, str]) -> str:
    """A component as its method labels its part (results.json `labels.components`), plus the
    domain of a per-domain part: "reward_model/hh_rlhf" -> "RM Anthropic HH" with
    {"reward_model": "RM"}; a part no run labelled keeps its name."""
    head, _, domain = name.partition("/")
    head = parts.get(head) or label(head)
    return f"{head} {label(domain)}" if domain else head


def method_labels(runs: list[dict]) -> dict[str, str]:
    """{method: label} as the runs name their methods, for rows that have no run of their own."""
    out: dict[str, str] = {}
    for run in runs:
        if (name := metrics.method_label(run)) is not None:
            out.setdefault(str(run.get("method")), name)
    return out


@dataclass
class Known:
    """What the methods declare, for one report: each table's expected methods, the row order,
    the methods the "% of largest" column divides by, and labels for rows without a run."""

    tables: dict[str, list[str]] = field(default_factory=dict)   # table -> method names, in order
    order: list[str] = field(default_factory=list)               # every known method name, in order
    reference: list[str] = field(default_factory=list)           # Baseline
    labels: dict[str, str] = field(default_factory=dict)         # method name -> its class's label
    paper_rows: list[tuple[str, str]] = field(default_factory=list)  # (method, model) the paper prints

    def expected(self, table: str) -> list[str]:
        return list(self.tables.get(str(table), []))


def known_methods(runs: list[dict], searchpath=()) -> Known:
    """The registry's methods (conf/method and `searchpath` directories) and the runs' own method
    classes (their config's `_target_`), read as the report needs them."""
    overrides = registry.searchpath_override(list(searchpath))
    found = {m.name: m for m in registry.registry(overrides).values()}
    for run in runs:
        method = registry.of_run(run, overrides)
        if method is not None:
            found[str(run.get("method"))] = method
    caps = {name: method.capabilities for name, method in found.items()}
    order = sorted(found, key=lambda name: (caps[name].order, name))
    return Known(tables={t: [n for n in order if t in caps[n].tables] for t in METHOD_TABLES}, order=order,
                 reference=[n for n in order if caps[n].reference],
                 labels={n: found[n].label for n in order},
                 paper_rows=[(n, r.model) for n in order if caps[n].tables for r in caps[n].paper_rows])


def _ordered(names, order) -> list[str]:
    names = list(dict.fromkeys(names))
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)


def _model_order(groups: dict, models: list[str] | None) -> list[str]:
    if models:
        return list(models)
    size: dict[str, float] = {}
    for row in groups.values():
        for run in row.runs:
            p = metrics.total_params(run)
            if p is not None:
                size[row.model] = min(size.get(row.model, p), p)
    present = {row.model for row in groups.values()}
    return sorted(present, key=lambda m: (size.get(m, float("inf")), m))


def select_rows(groups: dict, methods: list[str] | None, models: list[str] | None,
                default_methods: list[str], order: list[str] | None = None,
                pairs: list[tuple[str, str]] | None = None) -> list[Row]:
    """Rows for methods x models x datasets, in that nesting (models outermost).

    `methods`/`models` given: exactly those (missing ones become marked empty rows).
    Not given: the default methods plus any other method present, in `order` (then by name);
    the models present. `pairs` given: exactly those (method, model) rows, in that order (the
    paper's rows), each for every dataset present; `methods`/`models` then only filter them.
    """
    if pairs is not None:
        pairs = [(m, b) for m, b in pairs if (methods is None or m in methods) and (models is None or b in models)]
        datasets = list(dict.fromkeys(k[2] for k in groups if k[:2] in pairs)) or ["-"]
        rows = []
        for dataset in datasets:
            for method, model in pairs:
                found = [row for key, row in groups.items() if key[:3] == (method, model, dataset)]
                rows.extend([Row(row.key, list(row.runs), list(row.failed)) for row in found]
                            or [Row((method, model, dataset, ""))])
        return rows
    if methods is None:
        methods = _ordered(list(default_methods) + [k[0] for k in groups], order or default_methods)
    models = _model_order({k: r for k, r in groups.items() if k[0] in methods}, models)
    datasets = list(dict.fromkeys(k[2] for k in groups if k[0] in methods and k[1] in models))
    rows = []
    for model in models:
        for dataset in datasets or ["-"]:
            for method in methods:
                found = [row for key, row in groups.items() if key[:3] == (method, model, dataset)]
                rows.extend([Row(row.key, list(row.runs), list(row.failed)) for row in found]
                            or [Row((method, model, dataset, ""))])
    return rows


def _domain_columns(rows: list[Row]) -> tuple[list[Column], list[str]]:
    seen = [d for row in rows for run in row.runs for d in metrics.domains_with_pairs(run)]
    domains = _ordered(seen, DOMAIN_ORDER)
    absent: dict[str, str] = {}
    for row in rows:
        for run in row.runs:
            for d, why in metrics.absent_domains(run).items():
                if d not in domains:
                    absent.setdefault(d, why)
    cols = [Column(f"accuracy/{d}", label(d), (lambda run, d=d: metrics.domain_accuracy(run, d)),
                   "accuracy", "high") for d in domains]
    cols.append(Column("accuracy/average", "Average", metrics.average_accuracy, "accuracy", "high"))
    notes = [f"{label(d)}: no test pairs; {why}." for d, why in absent.items()]
    return cols, notes


def _params_column() -> Column:
    return Column("params/total", "Params", metrics.total_params, "params")


def _percent_of_largest_baseline(rows: list[Row], known: Known) -> Column | None:
    """Params as a % of the largest row of the reference method (`Capabilities.reference`: Baseline)."""
    def largest(pred):
        sizes = [metrics.total_params(r) for row in rows if pred(row) for r in row.runs]
        return max((s for s in sizes if s), default=None)

    top = largest(lambda row: row.method in known.reference)
    name = ""
    if top:
        at = next(row for row in rows if row.method in known.reference
                  and any(metrics.total_params(r) == top for r in row.runs))
        name = f"% of {known.labels.get(at.method, at.method)}{_short(at.model)}"
    if not top:  # no reference method ran: relative to the largest row instead, and said so
        top, name = largest(lambda row: True), "% of largest row"
    if not top:
        return None
    return Column("params/percent_of_largest_baseline", name,
                  lambda run: _percent(metrics.total_params(run), top), "percent")


def _short(model: str) -> str:
    """A backbone as the paper names a row after its method ("deberta-v3-large" -> "-large")."""
    return "-" + model.rsplit("-", 1)[-1] if model.startswith("deberta-v3-") else " " + label(model)


def _percent(value: float | None, top: float) -> float | None:
    return None if value is None else value / top * 100.0


def table2(groups, methods=None, models=None, alpha=0.05, known: Known | None = None, pairs=None,
           similar: float | None = None) -> Table:
    known = known or Known()
    rows = select_rows(groups, methods, models, known.expected("2"), known.order, pairs)
    domain_cols, notes = _domain_columns(rows)
    cols = [_params_column()]
    pct = _percent_of_largest_baseline(rows, known)
    cols += [pct] if pct else []
    if any(c.key == "accuracy/hellaswag" for c in domain_cols):
        notes.append(HELLASWAG_NOTE)
    return _finish(Table("table2", "Table 2: pairwise accuracy per domain (mean ± std over seeds)",
                         cols + domain_cols, rows, alpha=alpha, similar=similar), notes)


def whole_epochs(value):
    """A Table 3 time column's value, None for a run whose epochs were cut short (metrics.cut_short)."""
    return lambda run: None if metrics.cut_short(run) else value(run)


def table3(groups, methods=None, models=None, alpha=0.05, known: Known | None = None, pairs=None,
           similar: float | None = None) -> Table:
    known = known or Known()
    rows = select_rows(groups, methods, models, known.expected("3"), known.order, pairs)
    components = list(dict.fromkeys(c for row in rows for run in row.runs
                                    for c in metrics.component_epoch_seconds(run)))
    parts = {k: v for row in rows for run in row.runs for k, v in metrics.component_labels(run).items()}
    cols = [_params_column()]
    cols += [Column(f"train_epoch_s/{c}", f"{component_label(c, parts)} (s)",
                    whole_epochs(lambda run, c=c: metrics.component_epoch_seconds(run).get(c)), "seconds")
             for c in components]
    cols += [Column("train_epoch_s/total", "Total (s)", whole_epochs(metrics.epoch_seconds_sum), "seconds", "low"),
             Column("validation_epoch_s", "Validation (s)", metrics.validation_epoch_seconds, "seconds")]
    short = sorted({f"{metrics.method_label(run) or run.get('method')} on {run.get('model')} ({why})"
                    for row in rows for run in row.runs if (why := metrics.cut_short(run))})
    notes = [f"Left out of the training times: runs whose epochs were cut short, so their epoch is not a whole "
             f"one: {'; '.join(short)}."] if short else []
    notes += ["1-epoch training time in seconds, per trained component (one epoch of its own fit, the mean over "
             "its epochs) and their sum (Total, computed per run, so the means add up); validation passes are "
             "left out of both and reported apart (Validation: seconds per epoch, every component's together). "
             "An empty component cell means the method has no such part. "
             "Compare times only between runs on the same hardware."]
    return _finish(Table("table3", "Table 3: parameters and 1-epoch training time", cols, rows,
                         alpha=alpha, similar=similar), notes)


def _pairs_table(name: str, split: str, title: str, runs: list[dict]) -> Table:
    """Pairs per domain of one split, and each domain's share of the split, per dataset (every
    completed run of a dataset: a mean, ± where runs differ), from the runs' own `composition`."""
    done = [r for r in runs if metrics.completed(r)]
    datasets = list(dict.fromkeys(str(r.get("dataset", "?")) for r in done))
    rows: list[Row] = []
    sources: dict[tuple[str, str], dict[str, int]] = {}
    for dataset in datasets:
        of = [r for r in done if str(r.get("dataset", "?")) == dataset]
        domains = _ordered([d for r in of for d in metrics.pair_counts(r, split)], DOMAIN_ORDER)
        rows += [Row((name, "", dataset, ""), of, part=d) for d in domains + ["total"]]
        for d, parts in metrics.composition(of[0], split).items():
            sources.setdefault((dataset, d), parts)

    def count(run, d):
        counts = metrics.pair_counts(run, split)
        return float(sum(counts.values())) if d == "total" else counts.get(d)

    def share(run, d):
        counts = metrics.pair_counts(run, split)
        total = sum(counts.values())
        n = total if d == "total" else counts.get(d)
        return None if n is None or not total else 100.0 * n / total

    cols = [Column("pairs", "Pairs", lambda run: None, "count"), Column("share", "Share", lambda run: None, "percent")]
    table = Table(name, title, cols, rows, label_fields=("domain",))
    for row in rows:  # one row per domain: the column's number for that row's domain
        for col, value in (("pairs", count), ("share", share)):
            values = [v for v in (value(run, row.part) for run in row.runs) if v is not None]
            if values:
                row.cells[col] = Cell(Summary(values))
    per = {d: sum(1 for r in done if str(r.get("dataset", "?")) == d) for d in datasets}
    table.notes = [f"{split.capitalize()} pairs per domain as the runs recorded them ({RunDir.RESULTS} "
                   f"`data.<domain>.composition.{split}`), over {', '.join(f'{n} runs of {d}' for d, n in per.items())}; "
                   "± where runs of a dataset differ. Share: % of the split's pairs."]
    for (dataset, d), parts in sources.items():
        where = ", ".join(f"{src} {n:,}" for src, n in parts.items())
        table.notes.append(f"{label(d)}{f' ({dataset})' if len(datasets) > 1 else ''}: {where}.")
    return table


def table4(groups, methods=None, models=None, alpha=0.05, known: Known | None = None, pairs=None,
           runs=()) -> Table:
    return _pairs_table("table4", "train", "Table 4: train pairs per domain", list(runs))


def table5(groups, methods=None, models=None, alpha=0.05, known: Known | None = None, pairs=None,
           runs=()) -> Table:
    return _pairs_table("table5", "test", "Table 5: test pairs per domain", list(runs))


def table6(groups, methods=None, models=None, alpha=0.05, known: Known | None = None, pairs=None,
           similar: float | None = None) -> Table:
    known = known or Known()
    rows = select_rows(groups, methods, models, known.expected("6"), known.order, pairs)
    cols = [_params_column(),
            Column("inference_s_per_step", "Inference (s / step)", metrics.inference_step_seconds, "seconds", "low"),
            Column("inference_ms", "Inference (ms / input)", metrics.inference_ms, "ms", "low"),
            Column("inference_steps", "Steps timed", metrics.inference_steps, "count")]
    notes = ["Inference time as the paper measures it: test pairs scored one at a time, one step each (the pair's "
             "two texts in one forward pass; `inference_samples` pairs, the paper's 2,500), the accelerator "
             "synchronized before each clock reading; seconds per step, and beside it milliseconds per scored "
             f"text ({RunDir.RESULTS} `inference.per_input`; the batched figure is `inference.batched`)."]
    forms = list(dict.fromkeys(k[len(INFERENCE_FORM):] for row in rows for run in row.runs
                               for k in run if k.startswith(INFERENCE_FORM)))
    cols += [Column(f"inference_ms/{form}", f"Adapters {form} (ms / input)",
                    (lambda run, form=form: _ms(run.get(INFERENCE_FORM + form))), "ms") for form in forms]
    if forms:
        notes.append(f"Adapters {' / '.join(forms)}: the same per-input protocol on the same pairs, with ARLISS's "
                     "adapters merged into the weights on each switch and as peft's unmerged LoRA layers; "
                     "the Inference column is the run's own setting (`method.merge_at_inference`; the paper "
                     "profile measures unmerged, as the paper does).")
    return _finish(Table("table6", "Table 6: inference time per step and per input", cols, rows, alpha=alpha,
                         similar=similar), notes)


def _ms(seconds) -> float | None:
    return 1000.0 * seconds if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None


def table7(groups, methods=None, models=None, alpha=0.05, known: Known | None = None, pairs=None,
           similar: float | None = None) -> Table:
    known = known or Known()
    rows = select_rows(groups, known.expected("7"), models, known.expected("7"))  # the backbones' method
    domain_cols, notes = _domain_columns(rows)
    table = Table("table7", "Table 7: Baseline on each backbone (mean ± std over seeds)",
                  [_params_column()] + domain_cols, rows, alpha=alpha, label_fields=("model",), similar=similar)
    return _finish(table, notes)


def table_rb2(groups, methods=None, models=None, alpha=0.05, known: Known | None = None, pairs=None,
              similar: float | None = None) -> Table:
    """RewardBench 2: per-subset and overall score of every run that scored it (results.json `rewardbench2`)."""
    rows = [Row(row.key, list(row.runs), list(row.failed)) for row in groups.values()
            if any(metrics.rewardbench2(r) for r in row.runs)]
    subsets = list(dict.fromkeys(s for row in rows for r in row.runs for s in (metrics.rewardbench2(r) or {})
                                 .get("subsets", {})))
    cols = [Column(f"rewardbench2/{s}", s, (lambda run, s=s: (metrics.rewardbench2(run) or {})
                                           .get("subsets", {}).get(s)), "accuracy", "high") for s in subsets]
    cols.append(Column("rewardbench2/score", "Score", lambda run: (metrics.rewardbench2(run) or {}).get("score"),
                       "accuracy", "high"))
    notes = ["RewardBench 2 as its own code scores it: a row counts when its correct answer outscores every "
             "incorrect one (a tie at the top shares the credit); Ties by its weighted accuracy-and-margin "
             "rule; Score: the mean of the subsets (rm_lab/eval/rewardbench2.py)."]
    incomplete = [f"{label_of(row)} seed {r.get('seed')}" for row in rows for r in row.runs
                  if not (metrics.rewardbench2(r) or {}).get("complete", True)]
    if incomplete:
        notes.append("Subsets missing (Score over those present): " + "; ".join(incomplete) + ".")
    return _finish(Table("rewardbench2", "RewardBench 2: score per subset (mean ± std over seeds)", cols, rows,
                         alpha=alpha, similar=similar), notes)


BUILDERS = {"2": table2, "3": table3, "4": table4, "5": table5, "6": table6, "7": table7, "rb2": table_rb2}
DATA_TABLES = ("4", "5")  # rows are a dataset's domains, read from every run


def _finish(table: Table, notes: list[str]) -> Table:
    fill(table)
    table.notes = standard_notes(table) + notes + table.notes
    return table


def check_names(runs: list[dict], known: Known, methods, models, searchpath=()) -> None:
    """ValueError for a `--methods` name that no config and no run knows, or a `--models` name that
    is neither a backbone of conf/model (or a searchpath's model/) nor one the runs trained: a typo
    would otherwise leave a table empty, or full of "not run" rows, without a word."""
    unknown = [m for m in methods or [] if m not in known.order]
    if unknown:
        raise ValueError(f"--methods {','.join(unknown)}: no such method; give some of {', '.join(known.order)}")
    backbones = set(choices("model")) | {str(run.get("model")) for run in runs}
    backbones |= {path.stem for folder in searchpath for path in (Path(folder) / "model").glob("*.yaml")}
    unknown = [m for m in models or [] if m not in backbones]
    if unknown:
        raise ValueError(f"--models {','.join(unknown)}: no such backbone in conf/model or in the runs; give some "
                         f"of {', '.join(sorted(backbones))}")


def build_tables(runs: list[dict], which=TABLES, methods=None, models=None, alpha=0.05,
                 searchpath=(), paper_rows: bool = False, similar: float | None = None) -> list[Table]:
    """The tables `which` from the runs; `searchpath`: config directories whose methods the
    tables expect too (as `hydra.searchpath` adds them to `python -m rm_lab`); `paper_rows`:
    Tables 2, 3 and 6 hold exactly the rows the paper prints (each method's `paper_rows`);
    `similar`: mark accuracies within this of the column's best (the paper's 0.02 rule)."""
    groups, notes = group_runs(runs)
    known = known_methods(runs, searchpath)
    check_names(runs, known, methods, models, searchpath)
    names = {"method": {**known.labels, **method_labels(runs)}, "model": LABELS,
             "dataset": LABELS, "domain": {**LABELS, "total": "Total"}}
    pairs = known.paper_rows if paper_rows else None
    tables = []
    for name in which:
        name = str(name)
        if name in DATA_TABLES:
            table = BUILDERS[name](groups, runs=runs)
        else:
            table = BUILDERS[name](groups, methods=methods, models=models, alpha=alpha, known=known,
                                   pairs=pairs if name in ("2", "3", "6") else None, similar=similar)
            table.notes += notes
        table.names = names
        tables.append(table)
    return tables
