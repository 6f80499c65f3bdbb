"""Docs are a contract: every error code, spec key and command is documented."""

from __future__ import annotations

import inspect
import re

from pydantic import BaseModel
from tests.paths import ROOT

import doorstep.errors as errors
import doorstep.plugins as plugins
from doorstep.core.spec import models

DOCS = ROOT / "docs"


def test_every_error_code_is_documented() -> None:
    text = (DOCS / "errors.md").read_text()
    classes = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.DoorstepError)
    ]
    assert len(classes) >= 8
    for cls in classes:
        assert f"`{cls.code}`" in text, f"error code {cls.code} is missing from docs/errors.md"
        assert f"`{cls.__name__}`" in text, f"{cls.__name__} is missing from docs/errors.md"


def test_every_spec_key_is_documented() -> None:
    text = (DOCS / "spec.md").read_text()
    for _, cls in inspect.getmembers(models, inspect.isclass):
        if not issubclass(cls, BaseModel) or cls.__module__ != models.__name__:
            continue
        for name, field in cls.model_fields.items():
            key = field.alias or name
            assert f"`{key}`" in text, f"{cls.__name__}.{key} is missing from docs/spec.md"


def test_every_entry_point_group_is_documented() -> None:
    groups = [value for name, value in vars(plugins).items() if name.endswith("_GROUP")]
    assert len(groups) >= 3
    pages = "\n".join(page.read_text() for page in DOCS.glob("*.md"))
    pyproject = (DOCS.parent / "pyproject.toml").read_text()
    for group in groups:
        declared = f'[project.entry-points."{group}"]'
        assert f"``{group}``" in (plugins.__doc__ or ""), f"plugins.py does not declare {group}"
        assert declared in pages, f"no page of docs/ shows how to register under {group}"
        assert declared in pyproject, f"the built-ins do not register under {group}"


def test_every_doc_page_is_linked_from_the_readme() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    for page in DOCS.glob("*.md"):
        if page.name in ("architecture.md",):
            continue
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"


def test_local_links_in_docs_resolve() -> None:
    for page in [*DOCS.glob("*.md"), DOCS.parent / "README.md"]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name} links a missing {target}"


def test_every_package_is_on_the_architecture_page() -> None:
    """docs/architecture.md names every package under src/doorstep (as ``doorstep.x`` or
    ``x/``), so a newcomer can find where each room is and what it owns."""
    page = (DOCS / "architecture.md").read_text()
    source = ROOT / "src" / "doorstep"
    packages = sorted(
        init.parent.relative_to(source)
        for init in source.rglob("__init__.py")
        if init.parent != source and "migrations" not in init.parent.parts
    )
    assert len(packages) > 20
    missing = [
        str(path)
        for path in packages
        if not {
            f"doorstep.{'.'.join(path.parts)}",
            f"{path.as_posix()}/",
            f"`{path.as_posix()}`",
        }
        & {name for name in _names(page)}
    ]
    assert missing == [], f"docs/architecture.md does not name: {', '.join(missing)}"


def _names(page: str) -> set[str]:
    """Every dotted name, ``x/`` path and backquoted path the page mentions."""
    found = set(re.findall(r"doorstep(?:\.\w+)+", page))
    found |= {f"{m}/" for m in re.findall(r"([\w/]+)/", page)}
    found |= set(re.findall(r"`[\w/.]+`", page))
    return found


class _AnyVariable(dict[str, str]):
    """An environment in which every ``${VAR}`` is set (to a value of its own name)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __getitem__(self, name: str) -> str:
        return f"https://example.com/{name.lower()}"


def documented_specs() -> list[tuple[str, str]]:
    """Every whole spec (a YAML block with ``app:`` and ``model:``) of the README and docs/."""
    from ruamel.yaml import YAML

    found: list[tuple[str, str]] = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S):
            data = YAML(typ="safe").load(block)
            if isinstance(data, dict) and {"app", "model"} <= set(data):
                found.append((page.name, block))
    return found


def test_every_spec_the_docs_show_validates() -> None:
    from doorstep.core.spec.loader import parse_spec
    from doorstep.errors import SpecError
    from doorstep.services.deliver.template_check import check_templates

    specs = documented_specs()
    assert "README.md" in [page for page, _ in specs]
    for page, block in specs:
        try:
            check_templates(parse_spec(block, file=page, env=_AnyVariable()))
        except SpecError as exc:
            raise AssertionError(f"a spec shown in {page} does not validate:\n{exc}") from None
