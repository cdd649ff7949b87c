"""The production Rasa's lock store as deploy/endpoints.yml configures it (run_all's replicas, the Kubernetes
pods): Redis, with a password when the Secret gives one (a managed Redis), none when it is empty."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.core.utils import AvailableEndpoints

ENDPOINTS = str(Path(__file__).resolve().parents[1] / "deploy" / "endpoints.yml")
PASSWORD = "mat-khau-redis"


@pytest.fixture
def redis_port() -> Iterator[int]:
    """A Redis of its own that refuses clients without PASSWORD."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD,
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _listening(port):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield port
    server.terminate()
    server.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def lock_store(monkeypatch: Any, port: int, password: str) -> LockStore:
    for name, value in (("ACTION_ENDPOINT_URL", "http://actions:5055/webhook"), ("API_URL", "http://api:8000"),
                        ("REDIS_HOST", "127.0.0.1"), ("REDIS_PORT", str(port)), ("REDIS_LOCK_DB", "0"),
                        ("REDIS_PASSWORD", password)):
        monkeypatch.setenv(name, value)
    return LockStore.create(AvailableEndpoints.read_endpoints(ENDPOINTS).lock_store)


def test_the_lock_store_reaches_a_redis_with_the_secrets_password(monkeypatch: Any, redis_port: int) -> None:
    store = lock_store(monkeypatch, redis_port, PASSWORD)
    assert isinstance(store, RedisLockStore)
    store.save_lock(store.create_lock("chat-1"))
    assert store.get_lock("chat-1") is not None
    with pytest.raises(redis.AuthenticationError):
        lock_store(monkeypatch, redis_port, "wrong").get_lock("chat-1")


def test_an_empty_password_means_none(monkeypatch: Any) -> None:
    # This machine's Redis has no password: run_all passes REDIS_PASSWORD="" (Rasa refuses an unset one).
    try:
        redis.Redis(port=6379, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at 127.0.0.1:6379: {error}")
    store = lock_store(monkeypatch, 6379, "")
    store.save_lock(store.create_lock("ksk-test-empty-password"))
    assert store.get_lock("ksk-test-empty-password") is not None
    store.delete_lock("ksk-test-empty-password")
