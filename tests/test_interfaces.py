"""Interfaces are thin: the web layer and the command line reach the store only through the
services. No route, page or command calls a method of the store's protocols itself."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import ROOT

from doorstep.store import protocols

STORE_METHODS = {
    name
    for cls in protocols.StoreContract.__mro__
    if cls.__module__ == protocols.__name__
    for name, value in vars(cls).items()
    if callable(value) and not name.startswith("_")
}
INTERFACES = [ROOT / "src" / "doorstep" / "web", ROOT / "src" / "doorstep" / "cli"]
ALLOWED = {"close"}  # whoever opens a store closes it


def store_calls(path: Path) -> list[str]:
    """``x.store.method(...)`` or ``store.method(...)`` calls of store methods in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner, method = node.func.value, node.func.attr
        named = (isinstance(owner, ast.Name) and owner.id == "store") or (
            isinstance(owner, ast.Attribute) and owner.attr == "store"
        )
        if named and method in STORE_METHODS and method not in ALLOWED:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{method}()")
    return found


def test_the_check_knows_the_store_methods() -> None:
    assert {"record", "list_decisions", "decision_case", "ping", "create_key"} <= STORE_METHODS


def test_routes_pages_and_commands_call_services_not_the_store() -> None:
    calls = [c for folder in INTERFACES for path in folder.rglob("*.py") for c in store_calls(path)]
    assert calls == [], "call a service function instead:\n" + "\n".join(calls)
