"""Every API operation, driven by Schemathesis from the OpenAPI document with a fixed seed: no
answer is a 5xx, and every answer matches what the document declares (status codes, content
types, bodies). Once with an admin key, once anonymously."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Ok

from doorstep.services.apps.registry import Registry
from doorstep.store import open_store
from doorstep.web import ServeSettings, create_app

EXAMPLES = 25
LENIENT = [positive_data_acceptance]
"""An opaque ``cursor`` is any string to the document, yet only the server's own cursors are
accepted (422 otherwise, as documented): schema-valid is not always acceptable here."""
CONFIG = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def served(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    folder: Path = tmp_path_factory.mktemp("contract")
    store = open_store(f"sqlite:///{folder / 'doorstep.db'}")
    _, admin = store.create_key("contract", "admin", actor="test")
    app = create_app(registry, store, ServeSettings(home=str(folder / ".doorstep")))
    try:
        yield app, admin
    finally:
        store.close()


def check_every_operation(app: Any, headers: dict[str, str]) -> list[str]:
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    results = list(api.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 15, "the document has invalid operations"
    for operation in operations:

        @CONFIG
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=LENIENT)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together below
            failures.append(f"{operation.label}: {exc}")
    return failures


@pytest.mark.slow
def test_every_operation_keeps_its_contract_for_an_admin(served: tuple[Any, str]) -> None:
    app, admin = served
    failures = check_every_operation(app, {"Authorization": f"Bearer {admin}"})
    assert failures == [], "\n\n".join(failures)


@pytest.mark.slow
def test_every_operation_keeps_its_contract_for_anyone(served: tuple[Any, str]) -> None:
    app, _ = served
    failures = check_every_operation(app, {})
    assert failures == [], "\n\n".join(failures)
