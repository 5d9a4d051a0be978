"""Assemble the base-model report: inputs -> statistics -> files in the output folder.

Files (every one carries the benchmark table's label; with a synthetic table each says SYNTHETIC):
  scores.csv               reward-model score per base model (seeds averaged) joined with its benchmarks
  correlations.csv         Pearson / Spearman of each benchmark (and size, tokens) with the score, p-values
  topk_coverage.csv        top-k coverage of each benchmark (oriented on training folds) and of the
                           Elastic Net (nested out-of-fold predictions), per k
  elastic_net.json         best degree / alpha / l1 ratio, CV RMSE, nested out-of-fold RMSE and the
                           parameters chosen per outer fold, selected features
  predicted_ranking.csv    the Elastic Net's ranking of every model in the benchmark table
  selection_gain.csv       best against default within size groups
  data_mixture.csv         each base model's pre-training mixture estimated from its tokenizer
                           (rm_lab.studies.base_model.data_mixture) and its bytes per token
  correlations.png, predicted_vs_actual.png, summary.md

elastic_net.json's `data_mixture` holds the nested out-of-fold RMSE of the Elastic Net refitted
with the estimated mixture added to the benchmark features, beside the one without them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rm_lab.core.io import write_json_atomic, write_text_atomic
from rm_lab.studies.base_model.benchmarks import SIZE, BenchmarkTable
from rm_lab.studies.base_model.charts import correlation_bars, predicted_vs_actual
from rm_lab.studies.base_model.correlation import correlations, coverage_table
from rm_lab.studies.base_model.data_mixture import mixture_features
from rm_lab.studies.base_model.predictor import fit_elastic_net, predict
from rm_lab.studies.base_model.selection_gain import selection_gain


def match_models(scores: pd.DataFrame, table: BenchmarkTable,
                 run_sources: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """(scores re-indexed by the benchmark table's model names, matched by name or by hub id;
    the scored models the table lacks)."""
    by_hub = {hub: model for model, hub in table.hub_ids.items()}
    renamed = {}
    for model in scores.index:
        if model in table.frame.index:
            renamed[model] = model
        elif run_sources.get(model) in by_hub:
            renamed[model] = by_hub[run_sources[model]]
    unmatched = [m for m in scores.index if m not in renamed]
    return scores.loc[list(renamed)].rename(index=renamed), unmatched


def _labelled(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "benchmark_table", label)
    return out


def build_report(scores: pd.DataFrame, info: dict, table: BenchmarkTable, out: str | Path,
                 defaults: list[str], size_edges, ks: list[int], folds: int = 10,
                 degrees=(1, 2), alphas=None, l1_ratios=None, seed: int = 0, data_mixture: bool = True,
                 reference_dir: str | Path | None = None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    label = table.label
    matched, unmatched = match_models(scores, table, info.get("hub_ids", {}))
    if len(matched) < 3:
        raise ValueError(f"only {len(matched)} scored models appear in the benchmark table {table.path} "
                         f"(scored: {list(scores.index)}; table: {list(table.frame.index)}); "
                         f"add rows named as the sweep's model names")
    target = matched["score"]
    features = table.frame.loc[matched.index]
    joined = matched.join(features)
    _labelled(joined, label).to_csv(out / "scores.csv", index_label="model")

    corr = correlations(features, target)
    _labelled(corr, label).to_csv(out / "correlations.csv", index=False)

    kwargs = {k: v for k, v in {"alphas": alphas, "l1_ratios": l1_ratios}.items() if v}
    fit = fit_elastic_net(features, target, degrees=degrees, folds=folds, seed=seed, **kwargs)
    mixture = (mixture_effect(table, matched.index, features, target, out, label, fit, reference_dir,
                              degrees=degrees, folds=folds, seed=seed, **kwargs) if data_mixture else None)
    ks = [k for k in ks if 1 <= k <= len(matched)] or [1]
    coverage = coverage_table(features, target, ks, extra={"ElasticNet (out of fold)": fit["out_of_fold"]},
                              fold_of=fit["fold_of"])  # benchmarks oriented on the same training folds
    _labelled(coverage, label).to_csv(out / "topk_coverage.csv", index=False)

    ranking = predict(fit, table.frame).sort_values(ascending=False).to_frame()
    ranking["rank"] = np.arange(1, len(ranking) + 1)
    ranking["actual_score"] = target.reindex(ranking.index)
    ranking["trained"] = ranking["actual_score"].notna()
    _labelled(ranking, label).to_csv(out / "predicted_ranking.csv", index_label="model")

    gain = pd.DataFrame()
    if SIZE in table.frame.columns:
        gain = selection_gain(target, table.frame[SIZE].loc[matched.index], defaults, size_edges)
        _labelled(gain, label).to_csv(out / "selection_gain.csv", index=False)

    net = fit["out_of_fold"]
    singles = coverage[coverage["predictor"] != "ElasticNet (out of fold)"]
    best_single = singles.iloc[0]["predictor"] if not singles.empty else None
    improvement = {}
    if best_single is not None:
        for k in ks:
            single = singles.iloc[0][f"top{k}"]
            combined = coverage.set_index("predictor").loc["ElasticNet (out of fold)", f"top{k}"] \
                if "ElasticNet (out of fold)" in set(coverage["predictor"]) else np.nan
            improvement[f"top{k}"] = {"elastic_net": combined, "best_single": single}
    summary = {
        "benchmark_table": label, "synthetic": table.synthetic, "benchmark_file": table.path,
        "target": info.get("target"), "models_scored": len(scores), "models_matched": len(matched),
        "runs": {"found": info.get("runs"), "used": info.get("used"), "skipped": info.get("skipped")},
        "unmatched_models": unmatched,
        "elastic_net": {k: v for k, v in fit.items() if k not in ("model", "out_of_fold", "fold_of")},
        "best_single_predictor": best_single, "topk_elastic_net_vs_best_single": improvement,
        "data_mixture": mixture,
    }
    write_json_atomic(out / "elastic_net.json", summary)

    title = f"{label}\ntarget: {info.get('target')}, {len(matched)} base models"
    correlation_bars(corr, out / "correlations.png", title)
    predicted_vs_actual(net, target, out / "predicted_vs_actual.png", title)
    write_text_atomic(out / "summary.md", render_summary(summary, joined, corr, coverage, gain, ranking))
    return summary


def mixture_effect(table: BenchmarkTable, models: pd.Index, features: pd.DataFrame, target: pd.Series,
                   out: Path, label: str, without: dict, reference_dir=None, **fit_kwargs) -> dict:
    """The Elastic Net refitted with the estimated data mixture added to the features: nested
    out-of-fold RMSE with and without (same folds, same grid), and data_mixture.csv."""
    mixture, info = mixture_features(table.hub_ids, list(table.frame.index), reference_dir)
    compression = pd.DataFrame.from_dict(info["compression"], orient="index").add_prefix("bytes_per_token_")
    _labelled(mixture.join(compression), label).to_csv(out / "data_mixture.csv", index_label="model")
    result = {"tokenizers": info["tokenizers"], "measured": info["measured"],
              "features": list(mixture.columns), "out_of_fold_rmse_without": without["out_of_fold_rmse"],
              "cv_rmse_without": without["cv_rmse"]}
    if mixture.loc[models].notna().any().any():
        fit = fit_elastic_net(features.join(mixture.loc[models]), target, **fit_kwargs)
        result.update({"out_of_fold_rmse_with": fit["out_of_fold_rmse"], "cv_rmse_with": fit["cv_rmse"],
                       "selected_with": fit["selected"]})
    else:
        result.update({"out_of_fold_rmse_with": None, "cv_rmse_with": None, "selected_with": [],
                       "note": info.get("note") or "no scored model's tokenizer is on this machine"})
    return result


def _md(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    if frame.empty:
        return "_none_\n"
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + " --- |" * len(cols)]
    for _, row in frame.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, (float, np.floating)) and not np.isnan(v) else
                 ("-" if isinstance(v, (float, np.floating)) else str(v)) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_summary(summary, joined, corr, coverage, gain, ranking) -> str:
    net = summary["elastic_net"]
    parts = [f"# Base-model choice report\n\n**{summary['benchmark_table']}**\n",
             f"Target: {summary['target']}; {summary['models_matched']} base models with both a score "
             f"and benchmarks (runs found {summary['runs']['found']}, used {summary['runs']['used']}, "
             f"skipped {len(summary['runs']['skipped'])}).\n",
             "## Reward-model score per base model\n", _md(joined.reset_index()[["model", "score", "score_std", "seeds"]]),
             "## Correlations with the score (two-sided t-test p-values)\n", _md(corr, ".3g"),
             "## Top-k coverage\n", _md(coverage),
             f"## Elastic Net ({net['folds']}-fold CV over degree, alpha, l1 ratio)\n",
             f"best: {net['best_params']}; CV RMSE {net['cv_rmse']:.4f}, nested out-of-fold RMSE "
             f"{net['out_of_fold_rmse']:.4f}, predicting the mean {net['baseline_rmse']:.4f}\n\n"
             "Out-of-fold predictions are nested: each outer fold's hyper-parameters are chosen on the other "
             "folds only, and each single benchmark's direction in the top-k table comes from the other folds "
             "too (`orientation`: +, - or mixed over folds).\n\n"
             "selected features: " + (", ".join(f"{n} ({c:+.3g})" for n, c in net["selected"]) or
                                      "none (the model predicts the mean: no benchmark helps)") + "\n",
             "## Predicted ranking (every model in the benchmark table)\n", _md(ranking.reset_index()),
             "## Selection gain within size groups\n", _md(gain)]
    parts += render_mixture(summary.get("data_mixture"))
    if summary["synthetic"]:
        parts.append("\n**SYNTHETIC: the benchmark numbers are made up; these figures show the pipeline, "
                     "not findings.**\n")
    return "\n".join(parts)


def render_mixture(mixture: dict | None) -> list[str]:
    if not mixture:
        return []
    def rmse(value):
        return "-" if value is None else f"{value:.4f}"
    missing = {m: why for m, why in mixture["tokenizers"].items() if m not in mixture["measured"]}
    return ["## Estimated pre-training data mixture as features\n",
            "Each base model's mixture is estimated from its tokenizer's bytes per token on per-category "
            "reference text (data_mixture.csv; an estimate, not the mixture itself).\n\n"
            f"nested out-of-fold RMSE without the mixture {rmse(mixture['out_of_fold_rmse_without'])}, "
            f"with it {rmse(mixture['out_of_fold_rmse_with'])}; tokenizers measured: "
            f"{', '.join(mixture['measured']) or 'none'}" +
            (f"; missing (features imputed): {'; '.join(f'{m}: {w}' for m, w in missing.items())}" if missing else "")
            + (f"\n\n{mixture['note']}" if mixture.get("note") else "") + "\n"]
