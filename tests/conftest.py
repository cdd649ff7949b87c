"""Fixtures every test folder may use: the API's database, settings, client, staff and builders.

Test databases never touch the developer's: SQLite files under tmp_path, and a throw-away
schema in the PostgreSQL `test` database, dropped at the end of the run. What tests import
(settings, signed chats, builders, servers, fakes) lives in tests/support/, not here."""

from __future__ import annotations

import gc
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.core.config import Settings
from api.core.db import Database
from api.core.migrate import upgrade
from api.main import create_app
from api.models import Base
from api.staff.service import create_staff
from tests.support.env import (
    TEST_SECRET,
    chat_headers,
    make_settings,
    postgres_schema,
    service_credential,
)
from tests.support.world import World


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    with postgres_schema("ksk_test") as url:
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database.from_settings(Settings(database_url=f"sqlite:///{path}", secret_key=TEST_SECRET))
    upgrade(db.writer)
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_schema_url")
    yield url
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database.from_settings(settings)
    yield db
    db.dispose()


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The API as our action server calls it: a service credential and one test chat, signed.
    Staff requests pass their own Authorization header, which takes precedence."""
    headers = {"Authorization": f"Bearer {service_credential(database)}", **chat_headers()}
    with TestClient(create_app(settings, database), raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client


@pytest.fixture
def staff_token(client: TestClient, database: Database) -> Callable[..., dict[str, str]]:
    """Returns auth headers for a new staff user with the given role."""

    def make(role: str, commune_id: int | None = None) -> dict[str, str]:
        username = f"{role}-{uuid.uuid4().hex[:6]}"
        with database.write() as db:
            create_staff(db=db, actor=None, username=username, password="mat-khau-123",
                         role=role, commune_id=commune_id)
        response = client.post("/api/v1/auth/token", data={"username": username, "password": "mat-khau-123"})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return make


@pytest.fixture
def world(client: TestClient, staff_token: Callable[..., dict[str, str]]) -> World:
    return World(client, staff_token("admin"))


@pytest.fixture
def seeded_content(database: Database) -> Database:
    """The FAQ seed and every message seed (bot/domain.yml and bot/texts), as `seed-content` loads them."""
    from api.content.service import seed_messages
    from api.faq.service import seed_content

    with database.write() as db:
        seed_content(db)
        seed_messages(db)
    return database


@pytest.fixture
def studio_login(settings: Settings, database: Database) -> Iterator[Callable[..., TestClient]]:
    """Logs a new staff member of a role into the staff pages: a separate browser (cookie jar) each."""
    clients: list[TestClient] = []

    def make(role: str, commune_id: int | None = None) -> TestClient:
        username = f"{role}-{uuid.uuid4().hex[:6]}"
        with database.write() as db:
            create_staff(db=db, actor=None, username=username, password="mat-khau-123", role=role,
                         commune_id=commune_id)
        browser = TestClient(create_app(settings, database), raise_server_exceptions=False)
        clients.append(browser)
        response = browser.post("/studio/login", data={"username": username, "password": "mat-khau-123"},
                                follow_redirects=False)
        assert response.status_code == 303, response.text
        return browser

    yield make
    for browser in clients:
        browser.close()


@pytest.fixture
def unfrozen_heap() -> Iterator[None]:
    """A test that starts a served app (which freezes the heap, common/heap.py) leaves none of it frozen:
    the test process's later garbage would never be collected."""
    gc.unfreeze()
    yield
    gc.unfreeze()
