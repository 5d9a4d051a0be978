"""A combined predictor: Elastic Net over benchmark scores, cross-validated.

Pipeline: impute missing scores (column mean) -> polynomial features of `degree` -> standardize
-> ElasticNet(alpha, l1_ratio). GridSearchCV picks degree, alpha and l1 ratio by K-fold
cross-validated mean squared error (K = min(folds, n)). The report gives the selected (non-zero)
features of the refitted model, the cross-validated RMSE, out-of-fold predictions (for
predicted-against-actual and top-k coverage) and the ranking it predicts for every model in
the benchmark table, trained or not. The out-of-fold predictions reuse the hyper-parameters chosen
on all models, so they are slightly optimistic (no nested cross-validation with a few dozen models).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict
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
    cv = KFold(n_splits=min(folds, len(common)), shuffle=True, random_state=seed)
    grid = {"poly__degree": list(degrees), "net__alpha": list(alphas), "net__l1_ratio": list(l1_ratios)}
    search = GridSearchCV(pipeline(), grid, cv=cv, scoring="neg_mean_squared_error", n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
        best = search.best_estimator_
        out_of_fold = cross_val_predict(pipeline().set_params(**search.best_params_), X, y, cv=cv)
    names = best.named_steps["poly"].get_feature_names_out(usable)
    coefs = best.named_steps["net"].coef_
    selected = sorted(((str(n), float(c)) for n, c in zip(names, coefs) if abs(c) > 1e-12),
                      key=lambda item: -abs(item[1]))
    return {
        "model": best, "columns": usable, "n": len(common), "folds": cv.get_n_splits(),
        "best_params": {"degree": search.best_params_["poly__degree"], "alpha": search.best_params_["net__alpha"],
                        "l1_ratio": search.best_params_["net__l1_ratio"]},
        "cv_rmse": float(np.sqrt(-search.best_score_)),
        "out_of_fold_rmse": float(np.sqrt(np.mean((out_of_fold - y) ** 2))),
        "baseline_rmse": float(np.std(y)),  # predicting the mean
        "selected": selected,
        "out_of_fold": pd.Series(out_of_fold, index=common, name="predicted"),
    }


def predict(fit: dict, features: pd.DataFrame) -> pd.Series:
    """The refitted model's prediction for every row of the benchmark table."""
    X = features.reindex(columns=fit["columns"])
    return pd.Series(fit["model"].predict(X), index=features.index, name="predicted")
