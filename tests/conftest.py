"""Test databases never touch the developer's: SQLite files under tmp_path, and a throw-away
schema in the PostgreSQL `test` database, dropped at the end of the run."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.core.clock import local_tz
from api.core.config import Settings
from api.core.db import Database
from api.core.migrate import upgrade
from api.main import create_app
from api.models import Base
from api.staff.service import create_staff

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_SECRET = "test-secret-not-for-production-0123456789"


def postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any failure means: no server to test against
        return f"PostgreSQL at {POSTGRES_URL} not reachable: {type(error).__name__}"
    return None


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    reason = postgres_reachable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    schema = f"ksk_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database.from_settings(Settings(database_url=f"sqlite:///{path}", secret_key=TEST_SECRET))
    upgrade(db.writer)
    db.dispose()
    return path


# Functional tests book hundreds of made-up residents from one test chat; the security suite
# (tests/security) builds its settings with the production limits instead.
FUNCTIONAL_LIMITS: dict[str, Any] = {"bookings_per_chat": 100_000, "bookings_per_address": 100_000,
                                     "bookings_per_credential": 100_000, "resident_writes_per_chat": 100_000,
                                     "booking_burst_alert_per_minute": 100_000}


def make_settings(url: str, tmp_path: Path, **overrides: Any) -> Settings:
    # gTTS would need Google: tests that exercise it stub its HTTP and turn it on themselves.
    values: dict[str, Any] = {"database_url": url, "secret_key": TEST_SECRET,
                              "secret_key_file": tmp_path / "unused.key", "audio_dir": tmp_path / "audio",
                              "tts_online": False, **FUNCTIONAL_LIMITS, **overrides}
    return Settings(**values)


def service_credential(database: Database, name: str = "tests") -> str:
    from api.security.credentials import create

    with database.write() as db:
        return create(db, name=name)


def chat_headers(channel: str = "web", sender: str = "test-chat", address: str = "") -> dict[str, str]:
    """The header the gateway would have signed for this chat (tests share the master secret)."""
    from api.core.keyring import chat_identity_key
    from common.chat_identity import HEADER, sign

    key = chat_identity_key(TEST_SECRET.encode())
    return {HEADER: sign(key, channel=channel, sender=sender, address=address, now=time.time())}


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


def future(days: int = 3, hour: int = 7, minute: int = 30) -> datetime:
    base = datetime.now(local_tz()).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return base + timedelta(days=days)


class World:
    """Builds communes, sites and sessions through the API, as staff would."""

    def __init__(self, client: TestClient, admin: dict[str, str]) -> None:
        self.client = client
        self.admin = admin
        self._counter = 0

    def commune(self, name: str = "Hữu Liên", kind: str = "xa") -> dict[str, Any]:
        self._counter += 1
        response = self.client.post(
            "/api/v1/communes", headers=self.admin,
            json={"province_code": "20", "province_name": "Lạng Sơn",
                  "code": f"T-{self._counter}-{uuid.uuid4().hex[:4]}", "name": name, "kind": kind},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def site(self, commune_id: int, kind: str = "station") -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/sites", headers=self.admin,
            json={"commune_id": commune_id, "name": "Trạm Y tế xã", "kind": kind},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def session(self, site_id: int, capacity: int = 2, days: int = 3) -> dict[str, Any]:
        start = future(days)
        response = self.client.post(
            "/api/v1/sessions", headers=self.admin,
            json={"site_id": site_id, "starts_at": start.isoformat(),
                  "ends_at": (start + timedelta(hours=3)).isoformat(), "capacity": capacity},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture
def world(client: TestClient, staff_token: Callable[..., dict[str, str]]) -> World:
    return World(client, staff_token("admin"))


_CCCD_COUNTER = iter(range(10**6))


def person(commune_id: int, *, year: int = 1958, index: int | None = None) -> dict[str, Any]:
    """A valid, made-up resident; each call gets a fresh CCCD unless `index` is given."""
    n = next(_CCCD_COUNTER) if index is None else index
    century = 0 if year < 2000 else 2
    return {
        "full_name": "Nông Thị Mai",
        "birth_date": f"{year}-03-05",
        # Province code 003 is assigned to no province: these numbers can belong to nobody.
        "cccd": f"003{century}{year % 100:02d}{n:06d}",
        "phone": f"09{n:08d}",
        "commune_id": commune_id,
    }


@pytest.fixture
def seeded_content(database: Database) -> Database:
    """The FAQ seed and the bot's messages (from the domain), as `seed-content` loads them."""
    from api.content.service import seed_messages
    from api.faq.service import seed_content

    with database.write() as db:
        seed_content(db)
        seed_messages(db)
    return database


CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "form without a CSRF token"
    return found.group(1)


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
