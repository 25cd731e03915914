"""Fixtures of the console tests: officers, an audit store holding decisions, a client.

The decisions are written as the API writes them (``DecisionRecord.from_request`` with a
decision of the API's shape), so that the queue, the declaration page and the outcome
form read what a running service would have recorded. The in-process client is
Starlette's ``TestClient`` on the console app alone (no BentoML), with a backend built
by :meth:`ConsoleBackend.configure` from a real officers file.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portsift.serving.console.app import ConsoleBackend, create_console_app
from portsift.serving.console.officers import OFFICERS_ENV, hash_password
from portsift.serving.console.sessions import SECRET_ENV
from portsift.settings import load_settings
from portsift.store.audit import AuditStore
from portsift.store.audit_records import DecisionRecord

# The audit-store fixtures (``sqlite_backend``, ``backend``: SQLite and the PostgreSQL
# server) come from tests/store through tests/serving/conftest.py.
from tests.store.conftest import Backend

OFFICER_ID = "hk-0417"
OFFICER_PASSWORD = "correct horse battery"
SUPERVISOR_ID = "hk-0001"
SUPERVISOR_PASSWORD = "staple of the office"
SECRET = "test-console-secret-0123456789abcdef0123456789"

_numbers = itertools.count(1)


def officers_toml() -> str:
    """An officers file with one officer and one supervisor."""
    return (
        f'[[officer]]\nid = "{OFFICER_ID}"\nname = "王芳"\nrole = "officer"\n'
        f'password_hash = "{hash_password(OFFICER_PASSWORD)}"\n\n'
        f'[[officer]]\nid = "{SUPERVISOR_ID}"\nname = "李强"\nrole = "supervisor"\n'
        f'password_hash = "{hash_password(SUPERVISOR_PASSWORD)}"\n'
    )


@pytest.fixture(scope="session")
def officers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("officers") / "officers.toml"
    path.write_text(officers_toml(), encoding="utf-8")
    return path


def decision(
    declaration_id: str,
    *,
    lane: str = "red",
    selected: int = 1,
    reason: str = "risk",
    tier: str = "general",
    risk: float = 0.4,
    green: int = 0,
    sampling_days: float | None = None,
    priority_lane: int = 0,
    **more: Any,
) -> dict[str, Any]:
    """A decision of the API's shape (``serving.api_models.Decision``)."""
    return {
        "request_id": f"req-{declaration_id}",
        "declaration_id": declaration_id,
        "risk_score": risk,
        "expected_revenue": 1200.0,
        "selected": selected,
        "lane": lane,
        "selection_reason": reason if selected else "",
        "credit_tier": tier,
        "reasons": "declared_value = 12000 (raises the risk); new importer",
        "lab_accepted": 0,
        "green_channel": green,
        "priority_lane": priority_lane,
        "inspection_deadline_hours": 4.0 if green else None,
        "release_deadline_hours": 1.0 if green else None,
        "sampling_deadline_days": sampling_days,
        "lab_test_deadline_days": None,
        "model_version": "m-test",
        "policy_version": "p-test",
        "objective": "hits",
        "revenue_weight": 0.0,
        "raw_score": -0.4,
        "base_value": -2.0,
        "revenue_estimated": False,
        "contributions": [
            {"feature": "declared_value", "value": 12000.0, "shap": 0.9},
            {"feature": "importer_age_days", "value": 3.0, "shap": 0.5},
            {"feature": "quantity", "value": 10.0, "shap": 0.2},
        ],
        "release_condition": "",
        **more,
    }


def record(
    store: AuditStore,
    declaration_id: str,
    *,
    at: datetime | None = None,
    office: str | None = "HK01",
    importer: str | None = "IMP-1",
    declared_value: float = 12000.0,
    policy_version: str = "p-test",
    **fields: Any,
) -> None:
    """Write one decision to the store as the API does."""
    body = decision(declaration_id, **fields)
    declaration = {
        "declaration_id": declaration_id,
        "declared_value": declared_value,
        "customs_office": office,
        "importer_id": importer,
    }
    store.record_decisions(
        [
            DecisionRecord.from_request(
                request_id=f"req-{declaration_id}-{next(_numbers)}",
                declaration=declaration,
                decision=body,
                model_version="m-test",
                policy_version=policy_version,
                recorded_at=at or datetime.now(UTC) - timedelta(minutes=30),
                credential="tests",
            )
        ]
    )


@dataclass
class Console:
    """The console app in process, on one audit store."""

    client: TestClient
    store: AuditStore
    backend: ConsoleBackend

    def sign_in(
        self, officer_id: str = OFFICER_ID, password: str = OFFICER_PASSWORD, **more: str
    ) -> Any:
        """Open the sign-in form (its CSRF token and cookie), then post it."""
        token = self.login_token()
        form = {"officer_id": officer_id, "password": password, "csrf": token, **more}
        return self.client.post("/login", data=form, follow_redirects=False)

    def login_token(self) -> str:
        page = self.client.get("/login")
        assert page.status_code == 200, page.text
        match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert match is not None, "no CSRF token on the sign-in form"
        return match.group(1)

    def csrf(self, path: str = "/queue") -> str:
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
        assert match is not None, "no CSRF token on the page"
        return match.group(1)


def make_console(
    store: AuditStore, officers_file: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    monkeypatch.setenv(OFFICERS_ENV, str(officers_file))
    monkeypatch.setenv(SECRET_ENV, SECRET)
    # Fast failures in the tests; the throttle itself is what is tested.
    settings = load_settings()
    settings = settings.model_copy(
        update={"console": settings.console.model_copy(update={"failed_login_delay_s": 0.2})}
    )
    made = ConsoleBackend.configure(store, settings, {})
    app = create_console_app(lambda: made)
    with TestClient(app, base_url="https://testserver") as client:
        yield Console(client=client, store=store, backend=made)


@pytest.fixture
def console(
    sqlite_backend: Backend, officers_file: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """The console on a fresh SQLite audit store."""
    yield from make_console(sqlite_backend.open(), officers_file, monkeypatch)


@pytest.fixture
def any_console(
    backend: Backend, officers_file: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """The console on SQLite and on the PostgreSQL server."""
    yield from make_console(backend.open(), officers_file, monkeypatch)
