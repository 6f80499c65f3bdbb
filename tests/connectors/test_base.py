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


@pytest.mark.parametrize(
    "shown",
    [
        "tok|en^{9f8e}-5b a",  # as it is
        "tok|en^%7B9f8e%7D-5b%20a",  # as an HTTP client writes it into a path
        "tok%7cen%5e%7b9f8e%7d-5b+a",  # lower-case hex, a form-encoded space
        "tok%7Cen%5E%7B9f8e%7D%2D5b%20a",  # every character that can be, encoded
    ],
)
def test_a_secret_is_hidden_in_any_mix_of_plain_and_percent_encoded_characters(
    shown: str,
) -> None:
    assert Redactor(["tok|en^{9f8e}-5b a"])(f"GET /hooks/{shown}?x=1") == "GET /hooks/***?x=1"


def test_a_redactor_without_secrets_changes_nothing() -> None:
    assert Redactor([])("HTTP 204") == "HTTP 204"
    assert Redactor(["", ""])("HTTP 204") == "HTTP 204"
