"""Fixtures of the web tests: the churn app loaded once, a store, keys of every role.

The store is SQLite only: routes, pages, auth, metrics and problems do not depend on the
database, whose behaviour tests/store and the services' tests check on SQLite and PostgreSQL. A
module whose routes behave differently on PostgreSQL (races on one idempotency key) runs on both
with ``pytestmark = ON_BOTH_DATABASES`` (tests/fixtures_db.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.web.fakes import FakeStore

from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import Role, StoreContract
from doorstep.web import ServeSettings, create_app

ROLES: tuple[Role, ...] = ("admin", "owner", "reviewer", "viewer", "client")


@pytest.fixture(scope="session")
def registry(churn_registry: Registry) -> Registry:
    """The session's churn app (tests/conftest.py): tests here do not change it."""
    return churn_registry


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """SQLite, or the database of ``ON_BOTH_DATABASES``'s parameter; ``store`` (the real store)
    comes from tests/fixtures_db.py."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def fake_store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def keys(store: StoreContract) -> dict[str, str]:
    return {role: store.create_key(f"test-{role}", role, actor="test")[1] for role in ROLES}


@pytest.fixture
def settings(tmp_path: Path) -> ServeSettings:
    return ServeSettings(home=str(tmp_path / ".doorstep"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(
    registry: Registry, store: StoreContract, keys: dict[str, str], settings: ServeSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of a fresh app instance (unexpected errors answer 500, as in prod)."""
    app = create_app(registry, store, settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as test_client:
        yield test_client
    await app.state.service.close()


def auth(keys: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[role]}"}


def customer(number: int = 1, **changes: Any) -> dict[str, Any]:
    """A valid churn record."""
    record: dict[str, Any] = {
        "customer_id": f"C-{number}",
        "tenure_months": 3 + number % 50,
        "plan": ("basic", "plus", "premium")[number % 3],
        "contract": "monthly",
        "monthly_spend": 29.0 + number % 40,
        "support_tickets_30d": number % 7,
        "late_payments_12m": number % 3,
        "logins_30d": number % 20,
        "days_since_last_login": number % 30,
        "discount_pct": 0,
        "region": ("north", "south", "east", "west")[number % 4],
        "autopay": number % 2 == 0,
        "email": f"c{number}@example.com",
    }
    record.update(changes)
    return record
