"""Permutation Shapley values: exact additivity, linear closed form, mixed dtypes, cost bound."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from doorstep.errors import ExplanationError
from doorstep.explainers import permutation
from doorstep.explainers.permutation import permutation_contributions, predict_calls

F64 = npt.NDArray[np.float64]
COEF = np.array([2.0, -1.0, 0.5, 3.0])


def numeric_frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({f"x{i}": rng.normal(size=n) for i in range(COEF.size)})


def linear(frame: pl.DataFrame) -> F64:
    return np.asarray(frame.to_numpy() @ COEF + 1.0, dtype=np.float64)


def interacting(frame: pl.DataFrame) -> F64:
    x = frame.to_numpy()
    return np.asarray(np.tanh(x[:, 0] * x[:, 1]) + np.exp(0.3 * x[:, 2]) * x[:, 3])


def mixed_frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1)
    return pl.DataFrame(
        {
            "tenure": rng.integers(0, 60, n),
            "plan": rng.choice(["basic", "plus", "premium"], n).tolist(),
            "signed_up": [start + timedelta(days=int(d)) for d in rng.integers(0, 365, n)],
            "region": pl.Series(rng.choice(["n", "s"], n).tolist(), dtype=pl.Categorical),
            "spend": rng.gamma(2.0, 20.0, n),
        }
    )


def churn_score(frame: pl.DataFrame) -> F64:
    """Probabilities from a frame with strings, categoricals and datetimes."""
    premium = (frame["plan"] == "premium").to_numpy().astype(float)
    south = (frame["region"].cast(pl.String) == "s").to_numpy().astype(float)
    month = frame["signed_up"].dt.month().to_numpy().astype(float)
    margin = (
        0.05 * frame["tenure"].to_numpy() * (1 - premium)
        - 0.8 * premium
        + 0.5 * south * month / 12
        - 0.01 * frame["spend"].to_numpy()
    )
    return np.asarray(1 / (1 + np.exp(-margin)), dtype=np.float64)


def test_linear_model_gives_the_closed_form_interventional_values() -> None:
    batch, background = numeric_frame(20, 0), numeric_frame(30, 1)
    values, base = permutation_contributions(linear, batch, background, permutations=16)
    expected = COEF * (batch.to_numpy() - background.to_numpy().mean(axis=0))
    np.testing.assert_allclose(values[:, 0, :], expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(base[:, 0], linear(background).mean(), atol=1e-12)


def test_exactly_additive_for_a_model_with_interactions() -> None:
    batch, background = numeric_frame(25, 2), numeric_frame(20, 3)
    values, base = permutation_contributions(interacting, batch, background, permutations=2)
    np.testing.assert_allclose(base[:, 0] + values[:, 0].sum(-1), interacting(batch), atol=1e-12)


def test_estimates_converge_to_exact_shapley_values() -> None:
    """With 3 features and 40 antithetic pairs the estimate is close to the exact value."""
    batch, background = numeric_frame(5, 4).select("x0", "x1", "x2"), numeric_frame(10, 5)

    def model(frame: pl.DataFrame) -> F64:
        x = frame.to_numpy()
        return np.asarray(x[:, 0] * x[:, 1] + np.sin(x[:, 2]) * x[:, 0])

    background = background.select("x0", "x1", "x2")
    exact = _exact_shapley(model, batch, background)
    values, _ = permutation_contributions(model, batch, background, permutations=40)
    np.testing.assert_allclose(values[:, 0], exact, atol=0.15 * np.abs(exact).max())


def _exact_shapley(model: permutation.Predict, batch: pl.DataFrame, bg: pl.DataFrame) -> F64:
    from itertools import permutations as orders

    d = batch.width
    out = np.zeros((batch.height, d))
    for order in orders(range(d)):
        previous = np.full(batch.height, model(bg).mean())
        for j in range(d):
            chosen = {batch.columns[i] for i in order[: j + 1]}
            worth = np.array(
                [
                    model(permutation._hybrid(batch, bg, np.array([r]), chosen)).mean()
                    for r in range(batch.height)
                ]
            )
            out[:, order[j]] += worth - previous
            previous = worth
    return out / 6


def test_mixed_dtypes_and_multiple_outputs() -> None:
    batch, background = mixed_frame(15, 6), mixed_frame(12, 7)

    def two_outputs(frame: pl.DataFrame) -> F64:
        p = churn_score(frame)
        return np.stack([1 - p, p], axis=1)

    values, base = permutation_contributions(two_outputs, batch, background, permutations=3)
    assert values.shape == (15, 2, 5) and base.shape == (15, 2)
    np.testing.assert_allclose(base + values.sum(-1), two_outputs(batch), atol=1e-12)
    assert np.abs(values[:, 1, batch.columns.index("plan")]).max() > 0.01


@pytest.mark.parametrize(("n", "rows_per_call"), [(15, 10_000), (15, 100), (1, 50)])
def test_cost_bound_is_respected(
    n: int, rows_per_call: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(permutation, "ROWS_PER_CALL", rows_per_call)
    batch, background = mixed_frame(n, 8), mixed_frame(12, 9)
    sizes: list[int] = []

    def counted(frame: pl.DataFrame) -> F64:
        sizes.append(frame.height)
        return churn_score(frame)

    values, base = permutation_contributions(counted, batch, background, permutations=2)
    d, perms, size = batch.width, 2, background.height
    assert len(sizes) == predict_calls(n, d, perms, size)
    assert sum(sizes) == 2 * perms * (d - 1) * n * size + size + n
    assert max(sizes[2:]) <= max(rows_per_call, size)
    np.testing.assert_allclose(base[:, 0] + values[:, 0].sum(-1), churn_score(batch), atol=1e-12)


def test_same_seed_same_values_and_other_seed_still_additive() -> None:
    batch, background = numeric_frame(8, 10), numeric_frame(9, 11)
    first, _ = permutation_contributions(interacting, batch, background, seed=1)
    again, _ = permutation_contributions(interacting, batch, background, seed=1)
    np.testing.assert_array_equal(first, again)


def test_a_single_feature_gets_the_whole_difference() -> None:
    batch, background = numeric_frame(4, 12).select("x0"), numeric_frame(5, 13).select("x0")

    def model(frame: pl.DataFrame) -> F64:
        return np.asarray(frame["x0"].to_numpy() ** 2)

    values, base = permutation_contributions(model, batch, background)
    np.testing.assert_allclose(values[:, 0, 0], model(batch) - model(background).mean())


def test_bad_inputs_are_explained() -> None:
    batch = numeric_frame(3, 14)
    with pytest.raises(ExplanationError, match="empty"):
        permutation_contributions(linear, batch, batch.clear())
    with pytest.raises(ExplanationError, match="lacks the column"):
        permutation_contributions(linear, batch, batch.drop("x1"))
    with pytest.raises(ValueError, match="'permutations' parameter"):
        permutation_contributions(linear, batch, batch, permutations=0)
