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


ROLES = ("admin", "owner", "reviewer", "viewer", "client")
ROLE_WORDS: dict[str, frozenset[str] | str] = {
    "anyone": "open",
    "open": "open",
    "all roles": frozenset(ROLES),
    "staff": frozenset(ROLES) - {"client"},
    "reviewers": frozenset({"admin", "owner", "reviewer"}),
}


def role_matrix() -> str:
    """docs/keys.md's table of who may call what, made from ``doorstep.web.auth.ROUTE_ROLES``."""
    from doorstep.web.auth import OPEN, ROUTE_ROLES

    lines = [
        "| route | " + " | ".join(f"`{role}`" for role in ROLES) + " |",
        "| --- |" + " :---: |" * len(ROLES),
    ]
    # the API first, then the pages and the open routes, each by path
    ordered = sorted(ROUTE_ROLES.items(), key=lambda r: (not r[0][1].startswith("/v1/"), r[0][1]))
    for (method, path), allowed in ordered:
        route = f"`{method} {path}`" + (" (no key)" if allowed == OPEN else "")
        marks = ["✓" if allowed == OPEN or role in allowed else "" for role in ROLES]
        lines.append(f"| {route} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


def roles_of(text: str) -> frozenset[str] | str:
    text = text.strip().rstrip(".")
    if text in ROLE_WORDS:
        return ROLE_WORDS[text]
    return frozenset(w.strip().removesuffix("s") for w in text.split(","))


def test_the_role_table_of_keys_md_is_made_from_the_route_table() -> None:
    text = (DOCS / "keys.md").read_text()
    found = re.search(r"<!-- roles:start -->\n(.*?)<!-- roles:end -->", text, re.S)
    assert found is not None, "docs/keys.md lost its <!-- roles:start/end --> markers"
    assert found.group(1) == role_matrix(), (
        "docs/keys.md's role table is stale; put this between its markers:\n" + role_matrix()
    )


def test_the_roles_api_md_and_pages_md_name_are_the_route_tables() -> None:
    from doorstep.web.auth import ROUTE_ROLES

    checked = 0
    api = (DOCS / "api.md").read_text()
    rows = re.findall(r"^\| (`(?:GET|POST) [^|]*) \|[^|\n]*\| ([^|\n]+) \|$", api, re.M)
    for routes, roles in rows:
        for method, path in re.findall(r"`(GET|POST) ([^`]+)`", routes):
            assert roles_of(roles) == ROUTE_ROLES[(method, path)], (method, path, roles)
            checked += 1
    pages = (DOCS / "pages.md").read_text()
    for path, who in re.findall(r"^\| `(/[^`]*)` \| ([^|]+) \|", pages, re.M):
        path = path.replace("{id}", "{decision_id}")
        assert roles_of(who) == ROUTE_ROLES[("GET", path)], (path, who)
        checked += 1
    assert checked >= 25
