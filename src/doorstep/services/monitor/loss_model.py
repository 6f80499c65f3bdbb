"""Direct loss estimation for regression models: the two loss regressors fitted on an app's
reference data (:func:`fit_loss_model`), and each window's decisions fed to them as they pass
through the drift monitor's pages (:class:`LossObserver`).

**The fit.** The features are the model's inputs that drift is measured on (numbers as they
are; categories and booleans coded by their position among the reference's categories, as
LightGBM categoricals) and the model's prediction ``score``; the targets are each reference
row's absolute error ``|y - ŷ|`` and squared error ``(y - ŷ)²`` against the outcome the
reference file holds (its column ``monitoring.outcome.field``). Both are LightGBM regressors
with :data:`LOSS_PARAMS`: fixed seed, one thread, deterministic, so the same reference gives
the same models (and they are cached with the reference profile, as the binary calibration
is). The reference should be data the production model was not trained on: on its training
data a model's errors are smaller than in production, and so would the estimates be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.spec.models import Spec
from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.loss_estimate import EstimatedLoss, LossModel

if TYPE_CHECKING:
    from doorstep.services.apps.loading import LoadedApp

__all__ = [
    "LOSS_PARAMS",
    "MIN_REFERENCE_ROWS",
    "LossObserver",
    "fit_loss",
    "fit_loss_model",
    "loss_features",
]

LOSS_PARAMS: dict[str, Any] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "num_boost_round": 100,
    "seed": 0,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
"""How both loss regressors are trained (NannyML's DLE uses LightGBM's defaults with 100
rounds at rate 0.1 and 31 leaves; these are smaller steps on smaller trees, less prone to
learn the reference's noise)."""
MIN_REFERENCE_ROWS = 100
"""Reference rows with an outcome needed to fit the loss models."""


def loss_features(spec: Spec, reference: pl.DataFrame) -> dict[str, bool]:
    """The inputs the loss models read, each with whether it is categorical."""
    out: dict[str, bool] = {}
    for name, field in spec.feature_fields.items():
        if name in reference.columns and field.type in ("int", "float", "category", "bool"):
            out[name] = field.type in ("category", "bool")
    return out


def _matrix(
    frame: pl.DataFrame, model: LossModel, score: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    columns = []
    for name in model.features:
        if name not in frame.columns:
            columns.append(np.full(frame.height, np.nan))
            continue
        categories = model.categories.get(name)
        column = frame[name]
        if categories is None:
            columns.append(column.cast(pl.Float64, strict=False).to_numpy())
        else:
            codes = column.cast(pl.String).replace_strict(
                list(categories),
                list(range(len(categories))),
                default=None,
                return_dtype=pl.Float64,
            )
            columns.append(codes.to_numpy())
    columns.append(score)
    return np.column_stack(columns).astype(np.float64)


def _fit(
    matrix: npt.NDArray[np.float64], target: npt.NDArray[np.float64], categorical: list[int]
) -> str:
    params = dict(LOSS_PARAMS)
    rounds = int(params.pop("num_boost_round"))
    data = lgb.Dataset(matrix, label=target, categorical_feature=categorical, params=params)
    booster = lgb.train(params, data, num_boost_round=rounds)
    return str(booster.model_to_string())


def fit_loss_model(app: LoadedApp, scores: pl.Series | None) -> tuple[LossModel | None, str | None]:
    """The loss models of ``app``'s reference (a regression model's), or ``None`` and why."""
    spec = app.spec
    reference, outcomes = app.reference, app.reference_outcomes
    field = spec.monitoring.outcome.field
    if reference is None or scores is None:
        return None, "the spec names no reference data to fit the loss models on"
    if outcomes is None:
        return None, (
            f"the reference data has no column {field!r} (monitoring.outcome.field) holding "
            "each row's outcome: add it to estimate the model's errors"
        )
    measured = outcomes.cast(pl.Float64, strict=False).to_numpy().astype(np.float64)
    predicted = scores.to_numpy().astype(np.float64)
    known = np.isfinite(measured) & np.isfinite(predicted)
    if int(known.sum()) < MIN_REFERENCE_ROWS:
        return None, (
            f"the reference column {field!r} holds {int(known.sum())} numeric outcomes; "
            f"estimating the model's errors needs at least {MIN_REFERENCE_ROWS}"
        )
    kept = reference.filter(pl.Series(known))
    return fit_loss(kept, loss_features(spec, reference), predicted[known], measured[known]), None


def fit_loss(
    reference: pl.DataFrame,
    kinds: dict[str, bool],
    predicted: npt.NDArray[np.float64],
    measured: npt.NDArray[np.float64],
) -> LossModel:
    """The loss models of ``reference``'s inputs ``kinds`` (name: categorical or not), the
    model's ``predicted`` values and the ``measured`` outcomes (all finite, row for row)."""
    categories = {
        name: tuple(
            sorted(v for v in reference[name].cast(pl.String).unique().to_list() if v is not None)
        )
        for name, categorical in kinds.items()
        if categorical
    }
    shell = LossModel(tuple(kinds), categories, "", "", 0, 0.0, 0.0, 0.0, 0.0)
    matrix = _matrix(reference, shell, predicted)
    error = measured - predicted
    absolute, squared = np.abs(error), error * error
    categorical = [i for i, name in enumerate(kinds) if kinds[name]]
    return LossModel(
        features=tuple(kinds),
        categories=categories,
        absolute=_fit(matrix, absolute, categorical),
        squared=_fit(matrix, squared, categorical),
        rows=int(predicted.size),
        absolute_sd=float(absolute.std(ddof=1)),
        squared_sd=float(squared.std(ddof=1)),
        reference_mae=float(absolute.mean()),
        reference_rmse=float(np.sqrt(squared.mean())),
        params=dict(LOSS_PARAMS),
    )


class LossObserver:
    """Feeds each window's decisions to the loss models and keeps each window's estimate."""

    def __init__(self, model: LossModel) -> None:
        self.model = model
        self._absolute = lgb.Booster(model_str=model.absolute)
        self._squared = lgb.Booster(model_str=model.squared)
        self._open: dict[int, EstimatedLoss] = {}
        self.results: dict[int, tuple[int, dict[str, Interval]]] = {}

    def update(self, index: int, frame: pl.DataFrame) -> None:
        accumulator = self._open.get(index)
        if accumulator is None:
            accumulator = self._open[index] = EstimatedLoss(
                self.model.absolute_sd, self.model.squared_sd
            )
        score = frame["score"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        known = np.isfinite(score)
        if not known.any():
            return
        matrix = _matrix(frame, self.model, score)[known]
        accumulator.add(
            np.asarray(self._absolute.predict(matrix, num_threads=1), dtype=np.float64),
            np.asarray(self._squared.predict(matrix, num_threads=1), dtype=np.float64),
        )

    def finish(self, index: int) -> None:
        accumulator = self._open.pop(index, None)
        if accumulator is not None:
            self.results[index] = (accumulator.rows, accumulator.result())
