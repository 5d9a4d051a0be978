"""A combined predictor: Elastic Net over benchmark scores, cross-validated.

Pipeline: impute missing scores (column mean) -> polynomial features of `degree` -> standardize
-> ElasticNet(alpha, l1_ratio). GridSearchCV picks degree, alpha and l1 ratio by K-fold
cross-validated mean squared error (K = min(folds, n)). The report gives the selected (non-zero)
features of the model refitted on every model, the cross-validated RMSE of that search, and the
ranking it predicts for every model in the benchmark table, trained or not.

Out-of-fold predictions (predicted-against-actual, top-k coverage, `out_of_fold_rmse`) come from
nested cross-validation: the models are split once into K outer folds (`outer_folds`); for each
outer fold, the hyper-parameters are chosen by an inner K-fold grid search on the other folds'
models only, the pipeline is fitted on them, and the held-out fold is predicted. A held-out
model's prediction therefore never depends on its own fold's scores, neither through the fit nor
through the choice of hyper-parameters. The single benchmarks are oriented on the same outer
folds (rm_lab.studies.base_model.correlation.oriented_out_of_fold), so the combined-against-single comparison
is out of fold on both sides.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

DEGREES = (1, 2)
ALPHAS = tuple(float(a) for a in np.logspace(-4, 1, 11))
L1_RATIOS = (0.1, 0.5, 0.9, 1.0)


def pipeline() -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
                     ("poly", PolynomialFeatures(include_bias=False)),
                     ("scale", StandardScaler()),
                     ("net", ElasticNet(max_iter=50_000))])


def fit_elastic_net(features: pd.DataFrame, target: pd.Series, degrees=DEGREES, alphas=ALPHAS,
                    l1_ratios=L1_RATIOS, folds: int = 10, seed: int = 0) -> dict:
    common = features.index.intersection(target.dropna().index)
    X, y = features.loc[common], target.loc[common].to_numpy(float)
    if len(common) < 4:
        raise ValueError(f"the Elastic Net needs at least 4 models with both a score and benchmarks; "
                         f"found {len(common)}: {list(common)}")
    usable = [c for c in X.columns if X[c].notna().any()]
    X = X[usable]
    grid = {"poly__degree": list(degrees), "net__alpha": list(alphas), "net__l1_ratio": list(l1_ratios)}
    fold_of = outer_folds(common, folds, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = grid_search(X, y, grid, folds, seed)
        best = search.best_estimator_
        out_of_fold, by_fold = nested_predictions(X, y, fold_of.to_numpy(), grid, folds, seed)
    names = best.named_steps["poly"].get_feature_names_out(usable)
    coefs = best.named_steps["net"].coef_
    selected = sorted(((str(n), float(c)) for n, c in zip(names, coefs) if abs(c) > 1e-12),
                      key=lambda item: -abs(item[1]))
    return {
        "model": best, "columns": usable, "n": len(common), "folds": int(fold_of.max()) + 1,
        "best_params": {"degree": search.best_params_["poly__degree"], "alpha": search.best_params_["net__alpha"],
                        "l1_ratio": search.best_params_["net__l1_ratio"]},
        "cv_rmse": float(np.sqrt(-search.best_score_)),
        "out_of_fold_rmse": float(np.sqrt(np.mean((out_of_fold - y) ** 2))),  # nested: honest
        "nested": {"outer_folds": {str(m): int(f) for m, f in fold_of.items()}, "params_by_fold": by_fold},
        "baseline_rmse": float(np.std(y)),  # predicting the mean
        "selected": selected,
        "out_of_fold": pd.Series(out_of_fold, index=common, name="predicted"),
        "fold_of": fold_of,
    }


def outer_folds(index: pd.Index, folds: int = 10, seed: int = 0) -> pd.Series:
    """Each model's outer fold (0..K-1, K = min(folds, n)), shuffled with `seed`: the one split the
    Elastic Net's nested CV and the single benchmarks' orientation share."""
    cv = KFold(n_splits=min(folds, len(index)), shuffle=True, random_state=seed)
    fold_of = np.empty(len(index), dtype=int)
    for fold, (_, test) in enumerate(cv.split(np.zeros(len(index)))):
        fold_of[test] = fold
    return pd.Series(fold_of, index=index, name="fold")


def grid_search(X: pd.DataFrame, y: np.ndarray, grid: dict, folds: int, seed: int) -> GridSearchCV:
    """The K-fold (K = min(folds, n)) grid search over the pipeline's hyper-parameters, refitted."""
    cv = KFold(n_splits=min(folds, len(y)), shuffle=True, random_state=seed)
    return GridSearchCV(pipeline(), grid, cv=cv, scoring="neg_mean_squared_error", n_jobs=1).fit(X, y)


def nested_predictions(X: pd.DataFrame, y: np.ndarray, fold_of: np.ndarray, grid: dict, folds: int,
                       seed: int) -> tuple[np.ndarray, list[dict]]:
    """Out-of-fold predictions: each outer fold predicted by a pipeline whose hyper-parameters an
    inner grid search chose on the other folds only; and the parameters chosen per fold."""
    predicted = np.empty(len(y), dtype=float)
    chosen = []
    for fold in range(int(fold_of.max()) + 1):
        train, test = fold_of != fold, fold_of == fold
        if train.sum() < 2:
            raise ValueError(f"nested cross-validation needs at least 2 training models per fold; use fewer "
                             f"--folds than {int(fold_of.max()) + 1} with {len(y)} models")
        search = grid_search(X[train], y[train], grid, folds, seed)
        predicted[test] = search.predict(X[test])
        chosen.append({"fold": fold, "degree": search.best_params_["poly__degree"],
                       "alpha": search.best_params_["net__alpha"], "l1_ratio": search.best_params_["net__l1_ratio"]})
    return predicted, chosen


def predict(fit: dict, features: pd.DataFrame) -> pd.Series:
    """The refitted model's prediction for every row of the benchmark table."""
    X = features.reindex(columns=fit["columns"])
    return pd.Series(fit["model"].predict(X), index=features.index, name="predicted")
