"""TreeSHAP for scikit-learn tree models: brute force, additivity, agreement with shap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from doorstep.errors import ExplanationError
from doorstep.explainers import sklearn_trees
from doorstep.explainers.sklearn_trees import supports, tree_contributions
from doorstep.explainers.treeshap import TreeEnsemble

F64 = npt.NDArray[np.float64]
BruteForce = Callable[[TreeEnsemble, F64], tuple[F64, F64]]


def numeric_data(n: int = 240, d: int = 5, *, missing: bool = True) -> tuple[F64, dict[str, Any]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    signal = X[:, 0] + X[:, 1] * X[:, 2]
    targets = {
        "binary": (signal > 0).astype(int),
        "multiclass": np.digitize(signal, [-0.5, 0.5]),
        "regression": signal + 0.1 * rng.normal(size=n),
    }
    if missing:
        X[rng.random(X.shape) < 0.08] = np.nan
    return X, targets


def categorical_frame(n: int = 300) -> tuple[pd.DataFrame, dict[str, Any]]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "spend": rng.normal(size=n),
            "plan": pd.Categorical(rng.choice(["basic", "plus", "premium", "team", "edu"], n)),
            "tickets": rng.poisson(2.0, n).astype(float),
            "region": pd.Categorical(rng.choice(["north", "south", "east"], n)),
        }
    )
    frame.loc[rng.random(n) < 0.1, "plan"] = np.nan
    frame.loc[rng.random(n) < 0.1, "spend"] = np.nan
    score = (
        frame["plan"].isin(["basic", "edu"]).to_numpy() * 1.5
        + np.nan_to_num(frame["spend"].to_numpy())
        - 0.3 * frame["tickets"].to_numpy()
        + (frame["region"] == "south").to_numpy()
    )
    targets = {
        "binary": (score > 0.5).astype(int),
        "multiclass": np.digitize(score, [0.0, 1.0]),
        "regression": score,
    }
    return frame, targets


def model_output(model: Any, X: Any, link: str) -> F64:
    """The model's own output in the link space the contributions claim."""
    if link == "probability":
        proba = model.predict_proba(X)
        return np.asarray(proba[:, 1:] if proba.shape[1] == 2 else proba)
    if link in ("logit", "softmax"):
        raw = np.asarray(model.decision_function(X), dtype=np.float64)
        return raw.reshape(len(X), -1)
    return np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)


FAMILIES: list[tuple[Callable[[], Any], str, bool]] = [
    (lambda: DecisionTreeClassifier(max_depth=5, random_state=0), "classifier", True),
    (lambda: DecisionTreeRegressor(max_depth=6, random_state=0), "regression", True),
    (lambda: RandomForestClassifier(15, max_depth=6, random_state=0), "classifier", True),
    (lambda: RandomForestRegressor(10, random_state=0), "regression", True),
    (lambda: ExtraTreesClassifier(15, max_depth=6, random_state=0), "classifier", True),
    (lambda: ExtraTreesRegressor(10, max_depth=8, random_state=0), "regression", True),
    (lambda: GradientBoostingClassifier(n_estimators=25, random_state=0), "classifier", False),
    (lambda: GradientBoostingRegressor(n_estimators=25, random_state=0), "regression", False),
    (lambda: HistGradientBoostingClassifier(max_iter=25, random_state=0), "classifier", True),
    (lambda: HistGradientBoostingRegressor(max_iter=25, random_state=0), "regression", True),
]
CASES = [
    pytest.param(factory, task, missing, id=f"{factory().__class__.__name__}-{task}")
    for factory, kind, missing in FAMILIES
    for task in (("binary", "multiclass") if kind == "classifier" else ("regression",))
]


@pytest.mark.parametrize(("factory", "task", "missing"), CASES)
def test_every_family_is_additive_in_its_link(
    factory: Callable[[], Any], task: str, missing: bool
) -> None:
    X, targets = numeric_data(missing=missing)
    model = factory().fit(X, targets[task])
    values, base, link = tree_contributions(model, X)
    outputs = 3 if task == "multiclass" else 1
    assert values.shape == (X.shape[0], outputs, X.shape[1]) and values.dtype == np.float64
    assert base.shape == (X.shape[0], outputs) and base.dtype == np.float64
    expected_link = {
        "regression": "identity",
        "binary": "logit" if "Gradient" in type(model).__name__ else "probability",
        "multiclass": "softmax" if "Gradient" in type(model).__name__ else "probability",
    }[task]
    assert link == expected_link
    np.testing.assert_allclose(base + values.sum(-1), model_output(model, X, link), atol=1e-9)


def test_exponential_loss_margins_give_predict_proba_through_the_sigmoid() -> None:
    X, targets = numeric_data(missing=False)
    model = GradientBoostingClassifier(n_estimators=20, loss="exponential").fit(
        X, targets["binary"]
    )
    values, base, link = tree_contributions(model, X)
    margin = (base + values.sum(-1))[:, 0]
    assert link == "logit"
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), model.predict_proba(X)[:, 1], atol=1e-12)


def brute_force_in_caller_order(model: Any, X: Any, brute_force: BruteForce) -> F64:
    converted = sklearn_trees._converted(model)
    rows, _ = converted.prepare(X)
    values, _ = brute_force(converted.ensemble, rows)
    ordered = np.empty_like(values)
    ordered[:, :, converted.columns] = values
    return ordered * converted.scale


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_hist_gradient_boosting_with_native_categoricals_matches_brute_force(
    task: str, brute_force: BruteForce
) -> None:
    frame, targets = categorical_frame()
    estimator = (
        HistGradientBoostingRegressor if task == "regression" else (HistGradientBoostingClassifier)
    )
    model = estimator(max_iter=12, max_depth=4, categorical_features="from_dtype", random_state=0)
    model.fit(frame, targets[task])
    assert any(
        p.nodes["is_categorical"][p.nodes["is_leaf"] == 0].any()
        for iteration in model._predictors
        for p in iteration
    ), "the model should use native categorical splits"
    rows = frame.head(6).copy()
    rows["plan"] = pd.Categorical(["basic", None, "unseen", "edu", "team", "plus"])
    values, base, link = tree_contributions(model, rows)
    np.testing.assert_allclose(base + values.sum(-1), model_output(model, rows, link), atol=1e-9)
    expected = brute_force_in_caller_order(model, rows, brute_force)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-10)
    # column order is the caller's, although the model puts categorical columns first
    assert np.abs(values[:, :, 1]).sum() > 0  # plan
    assert np.abs(values[:, :, 0]).sum() > 0  # spend


@pytest.mark.parametrize(
    "factory",
    [
        lambda: RandomForestClassifier(8, max_depth=4, random_state=0),
        lambda: GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0),
        lambda: DecisionTreeRegressor(max_depth=4, random_state=0),
    ],
    ids=["random-forest", "gradient-boosting", "decision-tree"],
)
def test_classic_trees_match_brute_force(
    factory: Callable[[], Any], brute_force: BruteForce
) -> None:
    X, targets = numeric_data(missing=False)
    task = "regression" if "Regressor" in type(factory()).__name__ else "binary"
    model = factory().fit(X, targets[task])
    values, _, _ = tree_contributions(model, X[:5])
    np.testing.assert_allclose(
        values, brute_force_in_caller_order(model, X[:5], brute_force), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize(
    ("factory", "task"),
    [
        (lambda: RandomForestClassifier(10, max_depth=6, random_state=0), "multiclass"),
        (lambda: RandomForestRegressor(8, random_state=0), "regression"),
        (lambda: ExtraTreesClassifier(10, max_depth=6, random_state=0), "binary"),
        (lambda: GradientBoostingClassifier(n_estimators=20, random_state=0), "binary"),
        (lambda: GradientBoostingRegressor(n_estimators=20, random_state=0), "regression"),
        (lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0), "binary"),
        (lambda: HistGradientBoostingRegressor(max_iter=20, random_state=0), "regression"),
    ],
)
def test_agrees_with_shap_tree_path_dependent_without_categorical_splits(
    factory: Callable[[], Any], task: str
) -> None:
    shap = pytest.importorskip("shap")
    X, targets = numeric_data(missing=False)
    model = factory().fit(X, targets[task])
    values, base, link = tree_contributions(model, X)
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    theirs = np.asarray(explainer.shap_values(X, check_additivity=False))
    theirs = np.moveaxis(theirs, 2, 1) if theirs.ndim == 3 else theirs[:, None, :]
    if link == "probability" and values.shape[1] == 1:
        theirs = theirs[:, 1:]  # binary forests: doorstep explains the positive class only
    np.testing.assert_allclose(values, theirs, rtol=0, atol=1e-8)


def test_dataframes_with_feature_names_are_accepted_without_warnings() -> None:
    X, targets = numeric_data(missing=False)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = RandomForestRegressor(5, max_depth=4, random_state=0).fit(frame, targets["regression"])
    values, base, _ = tree_contributions(model, frame)
    np.testing.assert_allclose(base + values.sum(-1), model_output(model, frame, "identity"))


def test_unsupported_models_are_refused_with_the_fix() -> None:
    X, targets = numeric_data(missing=False)
    assert not supports(LogisticRegression().fit(X, targets["binary"]))
    assert not supports(RandomForestClassifier(3))  # not fitted
    poisson = HistGradientBoostingRegressor(loss="poisson", max_iter=5)
    poisson.fit(X, np.abs(targets["regression"]))
    assert not supports(poisson)
    with pytest.raises(ExplanationError, match="explain.method: permutation"):
        tree_contributions(poisson, X)


def test_refitting_an_estimator_invalidates_the_cached_conversion() -> None:
    X, targets = numeric_data(missing=False)
    model = GradientBoostingRegressor(n_estimators=5, random_state=0)
    model.fit(X, targets["regression"])
    tree_contributions(model, X[:3])
    model.set_params(n_estimators=7).fit(X, -targets["regression"])
    values, base, _ = tree_contributions(model, X)
    np.testing.assert_allclose(base + values.sum(-1), model_output(model, X, "identity"), atol=1e-9)
