"""The test environment: where the repository is, which PostgreSQL to use, the master secret every
test shares, the API's settings under test, and the credentials and signed chats callers present."""

from __future__ import annotations

import importlib.util
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from api.core.config import Settings
from api.core.db import Database

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_SECRET = "test-secret-not-for-production-0123456789"


# Redis databases the tests flush, one pair per pytest-xdist worker (gw0 → 12 and 13, gw1 → 8 and 9, …):
# two workers flushing one database would wipe each other's locks and queues mid-test.
_REDIS_DBS = {"production": 12, "gateway": 13}


def redis_test_url(purpose: str) -> str:
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    return f"redis://127.0.0.1:6379/{_REDIS_DBS[purpose] - 4 * worker}"


def postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any failure means: no server to test against
        return f"PostgreSQL at {POSTGRES_URL} not reachable: {type(error).__name__}"
    return None


def need(reason: str | None) -> None:
    """Skip for a missing server (`reason`), except under CI=true, where a missing server is a failure."""
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@contextmanager
def _while_it_exists(create: str, drop: str) -> Iterator[None]:
    """Something made on the test PostgreSQL server by `create` (autocommitted), removed by `drop` after."""
    need(postgres_reachable())
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(create))
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(drop))
        admin.dispose()


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """An empty schema of its own in the PostgreSQL test database, dropped afterwards: its URL."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _while_it_exists(f'CREATE SCHEMA "{schema}"', f'DROP SCHEMA "{schema}" CASCADE'):
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database of its own on the test PostgreSQL server, dropped afterwards: its URL without a
    driver (`postgresql://…/<name>`, as Rasa's tracker store takes it). For what needs a whole database
    (Rasa creates its tables in the default schema); `postgres_schema` when a schema will do."""
    server = POSTGRES_URL.split("://", 1)[1].rsplit("/", 1)[0]
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _while_it_exists(f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'):
        yield f"postgresql://{server}/{name}"


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
    from common.chat_identity import HEADER, sign
    from common.keys import chat_identity_key

    key = chat_identity_key(TEST_SECRET.encode())
    return {HEADER: sign(key, channel=channel, sender=sender, address=address, now=time.time())}


def load_script(path: Path) -> ModuleType:
    """A script of scripts/ as a module, so tests call its functions (it is no package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
