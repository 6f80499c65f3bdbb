"""``doorstep card``: the model card of the app of a spec file, written as HTML or Markdown."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from doorstep.errors import InputError
from doorstep.services.apps.loading import load_app
from doorstep.services.governance.card import CardStore, ModelCard, Stage, model_card

__all__ = ["CardFormat", "WrittenCard", "card_format", "write_card"]

CardFormat = Literal["html", "md"]
_SUFFIXES: dict[str, CardFormat] = {".html": "html", ".htm": "html", ".md": "md"}


@dataclass(frozen=True)
class WrittenCard:
    card: ModelCard
    path: Path
    size: int
    """Bytes written."""
    format: CardFormat


def card_format(out: Path, given: str | None) -> CardFormat:
    """The format ``--format`` names, else the one ``out``'s suffix says."""
    if given is not None:
        if given not in ("html", "md"):
            raise InputError(f"--format must be html or md. Got {given!r} instead.")
        return "html" if given == "html" else "md"
    found = _SUFFIXES.get(out.suffix.lower())
    if found is None:
        raise InputError(
            f"--out must name an .html or .md file (or give --format). Got {str(out)!r} instead."
        )
    return found


def write_card(
    spec: Path,
    open_store: Callable[[], AbstractContextManager[CardStore]],
    out: Path,
    *,
    output_format: str | None = None,
    profiles: Path | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    on_stage: Stage | None = None,
) -> WrittenCard:
    """Load the app of ``spec`` (model and reference data) as its stages in the store say (the
    champion's model), gather its card from the store and write it to ``out``."""
    chosen = card_format(out, output_format)
    from doorstep.services.rollout.serving import staged_app

    loaded = load_app(spec)
    with open_store() as store:
        app = staged_app(loaded, store)  # the version served now, as the stages say
        card = model_card(
            app, store, spec_path=spec, profiles=profiles, since=since, until=until,
            on_stage=on_stage,
        )  # fmt: skip
    if chosen == "html":
        from doorstep.services.governance.card_html import render_card_html

        text = render_card_html(card)
    else:
        from doorstep.services.governance.card_markdown import render_card_markdown

        text = render_card_markdown(card)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Could not write {out}: {exc.strerror or exc}.") from None
    return WrittenCard(card, out, len(text.encode()), chosen)
