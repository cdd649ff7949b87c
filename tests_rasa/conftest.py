"""The action server's environment in every Rasa-side test: the service credential the fake API
(fake_api.py) expects, as scripts/run_all.py passes it, and nothing the actions' API client keeps from
another test. The conversation store, on SQLite and on PostgreSQL, and the trained model, loaded once,
for the tests that use them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.agent import Agent
from rasa.shared.core.domain import Domain

from actions import api
from bot import event_types
from bot.tracker_store import PrivateTrackerStore
from tests_rasa.fake_api import CREDENTIAL

MODEL = Path(__file__).resolve().parents[1] / "models" / "bot.tar.gz"


@pytest.fixture(scope="session")
def agent() -> Agent:
    """The trained model (`make train`), as the Rasa server loads it."""
    if not MODEL.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no trained model at {MODEL} (make train)")
        pytest.skip(f"no trained model at {MODEL} (make train)")
    return Agent.load(str(MODEL))


@pytest.fixture
def asked_of_rasa(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The event type names bot/event_types.py asks Rasa's own lookup for, from an empty cache."""
    asked: list[str] = []
    rasa_resolve = event_types.RASA_RESOLVE
    monkeypatch.setattr(event_types, "RASA_RESOLVE", lambda name, default=None: (
        asked.append(name), rasa_resolve(name, default))[1])
    monkeypatch.setattr(event_types, "_FOUND", {})
    return asked


@pytest.fixture(autouse=True)
def service_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_SERVICE_CREDENTIAL", CREDENTIAL)


@pytest.fixture(autouse=True)
def fresh_api_answers() -> Iterator[None]:
    """What the actions' API client keeps (a message's reads, communes found) starts empty in each test:
    a fake API of another test may have had the same address."""
    api._reads.clear()
    api._communes.clear()
    yield
    api._reads.clear()
    api._communes.clear()


POSTGRES_HOST = os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1")


@pytest.fixture
def store_domain(monkeypatch: pytest.MonkeyPatch) -> Domain:
    """The assistant's domain, with the secret the conversation store encrypts under."""
    monkeypatch.setenv("SECRET_KEY", "tracker-store-test-secret-0123456789")
    return Domain.from_path(Path(__file__).parents[1] / "bot" / "domain.yml")


@pytest.fixture
def sqlite_store(tmp_path: Path, store_domain: Domain) -> PrivateTrackerStore:
    """The embedded default: the conversation store in `tmp_path / "conversations.db"`."""
    return PrivateTrackerStore(domain=store_domain, db=str(tmp_path / "conversations.db"))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> PrivateTrackerStore:
    """The conversation store on each database it runs on."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def postgres_store(store_domain: Domain) -> Iterator[PrivateTrackerStore]:
    """A throw-away database on the local PostgreSQL, as several Rasa replicas would share."""
    admin = sa.create_engine(f"postgresql://postgres@{POSTGRES_HOST}:5432/test", isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and PostgreSQL not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {type(error).__name__}")
    name = f"ksk_conv_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    store = PrivateTrackerStore(domain=store_domain, dialect="postgresql", host=POSTGRES_HOST, port=5432,
                                username="postgres", db=name)
    yield store
    store.close()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}"'))
    admin.dispose()
