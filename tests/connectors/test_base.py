"""Secrets hidden from what connectors report: ``redact`` and ``Redactor``."""

from __future__ import annotations

import pytest

from doorstep.connectors.base import Redactor, redact

SECRETS = ["s3cr3t/with=chars&more", "s3cr3t", "", "tok-123"]


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (
            "url https://x.example.com?key=s3cr3t/with=chars&more ok",
            "url https://x.example.com?key=*** ok",
        ),
        ("encoded s3cr3t%2Fwith%3Dchars%26more here", "encoded *** here"),
        ("the shorter s3cr3t alone, and tok-123", "the shorter *** alone, and ***"),
        ("nothing secret", "nothing secret"),
        ("", ""),
    ],
)
def test_every_secret_is_hidden_whole_also_url_encoded(text: str, hidden: str) -> None:
    assert redact(text, SECRETS) == hidden
    assert Redactor(SECRETS)(text) == hidden


def test_a_redactor_without_secrets_changes_nothing() -> None:
    assert Redactor([])("HTTP 204") == "HTTP 204"
    assert Redactor(["", ""])("HTTP 204") == "HTTP 204"
