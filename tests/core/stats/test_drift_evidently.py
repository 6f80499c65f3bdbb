"""The drift statistics agree with Evidently 0.7.23's where the statistic is the same.

Evidently needs pandas < 3, so it lives in its own environment (``bench/peers/setup.sh
evidently`` creates ``bench/.data/venvs/evidently``, and ``scripts/test`` runs it); this test runs
a script there on the same Parquet files and compares per column. Without that environment the
test fails; ``DOORSTEP_TEST_EVIDENTLY=skip`` skips it. The agreement with scipy
(``test_drift_stats.py``) always runs.

Same statistic, same number: normalised Wasserstein, Jensen-Shannon (Evidently bins numeric
columns of more than 20 distinct values into Sturges equal-width bins over both samples, the
others value by value, as doorstep does), the KS p-value, the chi-square p-value, and PSI of
categorical and few-valued numeric columns. Evidently's PSI of other numeric columns uses those
equal-width bins where doorstep uses reference deciles: there the test checks doorstep's PSI
kernel on Evidently's bins instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.paths import ROOT

from doorstep.core.stats.drift import build_profile, compare
from doorstep.core.stats.kernels import ecdf_from_sorted, histogram, psi, sturges_edges
from doorstep.core.stats.profile import NumericReference

EVIDENTLY = ROOT / "bench" / ".data" / "venvs" / "evidently" / "bin" / "python"

pytestmark = [
    pytest.mark.services,  # Evidently's own environment
    pytest.mark.skipif(
        os.environ.get("DOORSTEP_TEST_EVIDENTLY") == "skip",
        reason="DOORSTEP_TEST_EVIDENTLY=skip: the comparison with Evidently was turned off",
    ),
]

NUMERIC = ["x", "heavy", "k", "flat"]
CATEGORICAL = ["c", "rare"]

SCRIPT = """
import json, sys
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

pairs = json.loads(sys.argv[1])
numeric, categorical = json.loads(sys.argv[2]), json.loads(sys.argv[3])
methods = {"wasserstein": numeric, "jensenshannon": numeric + categorical, "ks": numeric,
           "chisquare": categorical, "psi": numeric + categorical}
answers = []
for reference, current in pairs:
    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    out = {}
    for method, columns in methods.items():
        for column in columns:
            if column in numeric:
                definition = DataDefinition(numerical_columns=[column], categorical_columns=[])
            else:
                definition = DataDefinition(numerical_columns=[], categorical_columns=[column])
            snapshot = Report(
                [DataDriftPreset(columns=[column], method=method)]
            ).run(
                Dataset.from_pandas(cur[[column]], data_definition=definition),
                Dataset.from_pandas(ref[[column]], data_definition=definition),
            )
            for metric in snapshot.dict()["metrics"]:
                if metric["config"].get("type", "").endswith("ValueDrift"):
                    out.setdefault(column, {})[method] = float(metric["value"])
    answers.append(out)
print(json.dumps(answers))
"""
SIZES = [(4_000, 3_000), (30_000, 20_000)]
"""Rows of the reference and of the current sample."""


def frame(n: int, seed: int, *, shift: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.03] = np.nan
    rare = rng.choice(["p", "q", "r"], n, p=[0.9, 0.09, 0.01]).astype(object)
    if shift:
        rare[:5] = "new"  # categories the reference never saw
    return pl.DataFrame(
        {
            "x": x,
            "heavy": rng.standard_t(3, n) * (1 + shift),
            "k": rng.integers(0, 8 + int(shift * 4), n),
            "flat": np.round(rng.gamma(2, 2, n) + shift, 0),
            "c": rng.choice(
                ["a", "b", "c", "d"],
                n,
                p=[0.4, 0.3, 0.2, 0.1] if not shift else [0.3, 0.3, 0.3, 0.1],
            ),
            "rare": pl.Series(rare.tolist(), dtype=pl.String),
        }
    )


def evidently_numbers(pairs: list[tuple[Path, Path]]) -> list[dict[str, dict[str, float]]]:
    """Evidently's numbers for each (reference, current) pair of files, in one run of its
    environment (importing Evidently takes seconds)."""
    if not EVIDENTLY.exists():
        pytest.fail(
            "no Evidently environment: run `bench/peers/setup.sh evidently` (scripts/test does) "
            "or set DOORSTEP_TEST_EVIDENTLY=skip"
        )
    done = subprocess.run(
        [
            str(EVIDENTLY),
            "-c",
            SCRIPT,
            json.dumps([[str(reference), str(current)] for reference, current in pairs]),
            json.dumps(NUMERIC),
            json.dumps(CATEGORICAL),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={"PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: list[dict[str, dict[str, float]]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def samples(n_ref: int, n_cur: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    return frame(n_ref, 1, shift=0.0), frame(n_cur, 2, shift=0.2)


@pytest.fixture(scope="module")
def evidently_by_size(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[int, int], dict[str, dict[str, float]]]:
    folder = tmp_path_factory.mktemp("evidently")
    pairs = []
    for n_ref, n_cur in SIZES:
        ref, cur = samples(n_ref, n_cur)
        pairs.append((folder / f"ref-{n_ref}.parquet", folder / f"cur-{n_cur}.parquet"))
        ref.write_parquet(pairs[-1][0])
        cur.write_parquet(pairs[-1][1])
    return dict(zip(SIZES, evidently_numbers(pairs), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize(("n_ref", "n_cur"), SIZES)
def test_same_numbers_as_evidently(
    evidently_by_size: dict[tuple[int, int], dict[str, dict[str, float]]], n_ref: int, n_cur: int
) -> None:
    ref, cur = samples(n_ref, n_cur)
    theirs = evidently_by_size[(n_ref, n_cur)]
    kinds = {n: "numeric" for n in NUMERIC} | {n: "categorical" for n in CATEGORICAL}
    profile = build_profile(ref, features=kinds)  # type: ignore[arg-type]
    report = compare(profile, cur)

    for name in NUMERIC:
        ours, want = report.feature(name), theirs[name]
        assert ours.wasserstein_norm == pytest.approx(want["wasserstein"], rel=1e-9), name
        assert ours.js_distance == pytest.approx(want["jensenshannon"], rel=1e-9), name
        assert ours.ks_pvalue == pytest.approx(want["ks"], rel=1e-8, abs=1e-300), name
        reference = profile.features[name]
        assert isinstance(reference, NumericReference)
        if reference.discrete:
            assert ours.psi == pytest.approx(want["psi"], rel=1e-9), name
        else:  # the PSI kernel on Evidently's equal-width bins
            a = ref[name].drop_nans().drop_nulls().sort().to_numpy()
            b = cur[name].drop_nans().drop_nulls().sort().to_numpy()
            edges = sturges_edges(min(a[0], b[0]), max(a[-1], b[-1]), a.size + b.size)
            on_their_bins = psi(
                histogram(ecdf_from_sorted(a), edges), histogram(ecdf_from_sorted(b), edges)
            )
            assert on_their_bins == pytest.approx(want["psi"], rel=1e-9), name
    for name in CATEGORICAL:
        ours, want = report.feature(name), theirs[name]
        assert ours.js_distance == pytest.approx(want["jensenshannon"], rel=1e-9), name
        assert ours.psi == pytest.approx(want["psi"], rel=1e-9), name
        assert ours.chi2_pvalue == pytest.approx(want["chisquare"], rel=1e-8, abs=1e-300), name
    assert report.feature("rare").unseen_rate == pytest.approx(5 / n_cur)
    assert theirs["rare"]["chisquare"] == 0.0  # an unseen category: infinite chi-square there too
