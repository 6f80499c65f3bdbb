"""check_additivity: link spaces, tails near 0 and 1, and the error a broken model gets."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from doorstep.core.ports import Contributions, Link, Model, ModelMetadata, Task
from doorstep.errors import ExplanationError
from doorstep.explainers.additivity import check_additivity

F64 = npt.NDArray[np.float64]


class FakeModel:
    """A model whose scores come from margins, with contributions that may be off."""

    def __init__(self, margins: F64, link: Link, *, error: float = 0.0, bad_row: int = 0) -> None:
        task: Task = "multiclass" if link == "softmax" else "binary"
        self.metadata = ModelMetadata(kind="fake", task=task, feature_names=["a", "b"],
                                      content_hash="sha256:0")  # fmt: skip
        self.margins, self.link, self.error, self.bad_row = margins, link, error, bad_row

    def predict(self, batch: pl.DataFrame) -> F64:
        m = self.margins
        if self.link == "logit":
            return np.asarray(1 / (1 + np.exp(-m[:, 0])))
        if self.link == "softmax":
            e = np.exp(m - m.max(axis=1, keepdims=True))
            return np.asarray(e / e.sum(axis=1, keepdims=True))
        return np.asarray(m[:, 0] if m.shape[1] == 1 else m)

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        rows, outputs = self.margins.shape
        base = np.full((rows, outputs), 0.25)
        values = np.zeros((rows, outputs, 2))
        values[:, :, 0] = (self.margins - base) * 0.3
        values[:, :, 1] = (self.margins - base) * 0.7
        values[self.bad_row, :, 1] += self.error
        return Contributions(values, base, self.link, ["a", "b"], method="treeshap")


BATCH = pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})


@pytest.mark.parametrize("link", ["logit", "identity", "probability", "softmax"])
def test_consistent_models_pass_in_every_link(link: Link) -> None:
    rng = np.random.default_rng(0)
    margins = rng.normal(size=(4, 3 if link == "softmax" else 1))
    if link == "probability":
        margins = rng.random((4, 1))
    assert isinstance(FakeModel(margins, link), Model)
    assert check_additivity(FakeModel(margins, link), BATCH) < 1e-9


def test_probabilities_at_the_edges_are_compared_in_probability_space() -> None:
    margins = np.array([[40.0], [-45.0], [0.3], [36.5]])  # sigmoid rounds to 1.0 or ~1e-20
    assert check_additivity(FakeModel(margins, "logit"), BATCH) < 1e-9


def test_a_wrong_model_is_refused_with_where_and_how_to_fix() -> None:
    margins = np.array([[0.1], [0.5], [-1.0], [2.0]])
    model = FakeModel(margins, "logit", error=0.02, bad_row=2)
    with pytest.raises(ExplanationError) as raised:
        check_additivity(model, BATCH)
    message = str(raised.value)
    for part in ("fake", "treeshap", "0.02", "row 2", "explain.method: permutation"):
        assert part in message
    assert raised.value.code == "explanation_not_additive"
    assert check_additivity(model, BATCH, atol=0.05) == pytest.approx(0.02)


def test_non_finite_contributions_are_an_error() -> None:
    model = FakeModel(np.zeros((4, 1)), "identity", error=float("nan"), bad_row=1)
    with pytest.raises(ExplanationError, match="row 1"):
        check_additivity(model, BATCH)


def test_output_count_mismatch_is_named() -> None:
    class TwoColumns(FakeModel):
        def predict(self, batch: pl.DataFrame) -> F64:
            return np.zeros((4, 2))

    with pytest.raises(ExplanationError, match=r"shape \(4, 2\)"):
        check_additivity(TwoColumns(np.zeros((4, 1)), "identity"), BATCH)
