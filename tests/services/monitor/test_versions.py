"""The monitoring report's model versions: absent with one version; with a shadow, the
comparison ``doorstep models compare`` makes and each version's score drift (KS against
scipy's on the same scores); with a canary, the scores of each version's own decisions; and
through ``doorstep monitor --json`` and the HTML report."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy.stats import ks_2samp
from tests.services.rollout.test_compare import NOW, START, simulate, spec

from doorstep.services.monitor.versions import versions_section
from doorstep.services.rollout.compare import compare_versions
from doorstep.store import Store

UNTIL = START + timedelta(days=5)


def test_one_version_has_no_section(store: Store) -> None:
    assert versions_section(spec(), store, since=START, until=UNTIL, now=NOW) is None


def test_a_shadow_is_compared_and_its_scores_set_against_the_champions(store: Store) -> None:
    truth = simulate(store, 600, canary=False, seed=5)
    section = versions_section(spec(), store, since=START, until=UNTIL, now=NOW)
    assert section is not None and section.champion == "v1" and section.challenger == "v2"
    compared = compare_versions(spec(), store, champion="v1", since=START, until=UNTIL, now=NOW)
    assert section.comparison == compared.as_dict() and section.verdict == compared.verdict
    champion, shadow = section.drift
    assert (champion.version, champion.role, champion.scores) == ("v1", "champion", 600)
    assert champion.against_champion is None and champion.against_reference is None
    assert (shadow.version, shadow.role, shadow.scores) == ("v2", "shadow", 600)
    assert shadow.against_champion is not None
    expected = ks_2samp(truth["v1"], truth["v2"])
    assert shadow.against_champion.ks_statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert shadow.against_champion.psi is not None and shadow.against_champion.psi > 0
    as_json = section.to_dict()
    assert as_json["challenger"] == "v2" and as_json["drift"][1]["against_champion"]["psi"] > 0


def test_a_canary_is_drifted_on_its_own_decisions(store: Store) -> None:
    truth = simulate(store, 900, canary=True, seed=6)
    section = versions_section(spec(), store, since=START, until=UNTIL, now=NOW)
    assert section is not None and section.comparison["mode"] == "canary"
    mask = truth["by_v2"]
    rows = {(d.version, d.role): d for d in section.drift}
    assert rows["v1", "champion"].scores == int((~mask).sum())
    canary = rows["v2", "other"]  # decided in the range; no stage recorded in this store
    assert canary.scores == int(mask.sum()) and canary.against_champion is not None
    expected = ks_2samp(np.asarray(truth["v1"])[~mask], np.asarray(truth["v2"])[mask])
    assert canary.against_champion.ks_statistic == pytest.approx(expected.statistic, abs=1e-9)
