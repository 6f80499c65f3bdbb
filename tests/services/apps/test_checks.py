"""``doorstep validate`` reports every problem at once: when the app does not load (a rule, the
model), its payload templates and connector settings are checked too and reported with the
rest, in line order."""

from __future__ import annotations

from pathlib import Path

import pytest

from doorstep.errors import SpecError
from doorstep.services.apps.checks import check_app

pytestmark = pytest.mark.slow


def test_template_problems_are_reported_with_the_load_problems(churn_app: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    text = spec.read_text()
    text = text.replace('when: "score >= 0.60"', 'when: "scroe >= 0.60"', 1)
    text = text.replace('why: "{{ reasons_text }}"', 'why: "{{ reasons_txt }}"', 1)
    spec.write_text(text)
    with pytest.raises(SpecError) as info:
        check_app(spec)
    keys = [issue.key for issue in info.value.issues]
    assert keys == ["policy.rules[1].when", "actions.retention_offer.payload.why"]
    assert "did you mean 'reasons_text'?" in info.value.issues[1].message


def test_a_valid_app_checks(churn_app: Path) -> None:
    assert check_app(churn_app / "doorstep.yaml").name == "churn"
