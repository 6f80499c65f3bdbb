"""The decision page's what-if in-process: the result fragment for htmx, the whole page without
JavaScript, refused values named, the score bar's thresholds, and contributions shown in the
sentences' own numbers."""

from __future__ import annotations

import re
from contextlib import aclosing
from datetime import UTC, datetime
from html import unescape

import pytest
from tests.web.pages.conftest import Site, session_client

from doorstep.core.contract import frame_from_records
from doorstep.services.decide.batch import decide_batch
from doorstep.store.views import QueueQuery

pytestmark = pytest.mark.anyio

TRIAL = {"HX-Request": "true", "HX-Target": "trial"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def a_case(site: Site) -> str:
    page = site.store.review_queue(QueueQuery(("churn",)), now=datetime.now(UTC))
    return page.items[0].id


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found is not None, element_id
    return unescape(found.group(1)).strip()


async def test_the_fragment_shows_what_the_changed_inputs_would_get(seeded: Site) -> None:
    case = a_case(seeded)
    record = seeded.store.get_decision(case)
    assert record is not None
    app = seeded.app.state.service.registry.get("churn")
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        answer = await client.get(
            f"/decisions/{case}/what-if", params={"support_tickets_30d": "7"}, headers=TRIAL
        )
        whole = await client.get(f"/decisions/{case}/what-if", params={"support_tickets_30d": "7"})
    frame = frame_from_records([{**record.inputs, "support_tickets_30d": 7}], app.spec.inputs)
    [expected] = decide_batch(app, frame, explain=True).decisions.to_dicts()
    assert answer.status_code == 200 and "<html" not in answer.text
    assert float(text_of(answer.text, "trial-score")) == pytest.approx(expected["score"], abs=5e-4)
    assert text_of(answer.text, "trial-action") == expected["action"]
    assert expected["reasons"][0]["sentence"] in unescape(answer.text)
    assert "<html" in whole.text and 'id="trial-score"' in whole.text  # without JavaScript
    assert 'value="7"' in whole.text
    after = seeded.store.get_decision(case)
    assert after is not None and (after.score, after.status) == (record.score, record.status)


async def test_a_value_out_of_range_is_named_and_left_out(seeded: Site) -> None:
    case = a_case(seeded)
    record = seeded.store.get_decision(case)
    assert record is not None
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        answer = await client.get(
            f"/decisions/{case}/what-if", params={"logins_30d": "100000"}, headers=TRIAL
        )
    assert 'data-field="logins_30d"' in answer.text and "reference data" in answer.text
    assert float(text_of(answer.text, "trial-score")) == pytest.approx(record.score, abs=5e-4)


async def test_the_page_draws_thresholds_and_shows_contributions_as_the_sentences_do(
    seeded: Site,
) -> None:
    case = a_case(seeded)
    client, _ = await session_client(seeded, "reviewer")
    async with aclosing(client):
        page = await client.get(f"/decisions/{case}")
    bar = page.text.split('id="score-bar"', 1)[1].split("</figure>", 1)[0]
    assert re.findall(r'class="threshold"[^>]*data-value="([0-9.]+)"', bar) == [
        "0.40",
        "0.60",
        "0.70",
    ]
    rows = re.findall(
        r'<th scope="row">[^<]*</th>\s*<td class="axis">.*?</td>\s*<td class="num">([^<]+)</td>',
        page.text,
        re.S,
    )
    sentences = re.findall(
        r"by ([0-9.]+) points?", page.text.split('id="reasons"', 1)[1].split("</ul>", 1)[0]
    )
    assert rows and len(rows) == len(sentences)
    for shown, said in zip(rows, sentences, strict=True):
        assert re.fullmatch(r"[+-]([0-9.]+) points?", shown).group(1) == said  # type: ignore[union-attr]
    assert (
        "Months as a customer" not in page.text.split('id="what-if"', 1)[-1].split("</table>", 1)[0]
    )
