"""The production Rasa's lock store as deploy/endpoints.yml configures it (run_all's replicas, the Kubernetes
pods): Redis, with a password when the Secret gives one (a managed Redis), none when it is empty; one
replica at a time holds a conversation (bot/lock_store.py)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rasa.core.lock_store import LockError, LockStore
from rasa.core.utils import AvailableEndpoints

from bot.lock_store import ConversationLockStore

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
    assert isinstance(store, ConversationLockStore)

    async def hold() -> bool:
        async with store.lock("chat-1"):
            return store.held("chat-1")

    assert asyncio.run(hold())
    with pytest.raises(redis.AuthenticationError):
        lock_store(monkeypatch, redis_port, "wrong").held("chat-1")


def test_an_empty_password_means_none(monkeypatch: Any) -> None:
    # This machine's Redis has no password: run_all passes REDIS_PASSWORD="" (Rasa refuses an unset one).
    try:
        redis.Redis(port=6379, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at 127.0.0.1:6379: {error}")
    store = store_on_local_redis(monkeypatch)
    assert not store.held("ksk-test-empty-password")


# --- the lock itself (bot/lock_store.py) ---

def store_on_local_redis(monkeypatch: Any) -> ConversationLockStore:
    store = lock_store(monkeypatch, 6379, "")
    assert isinstance(store, ConversationLockStore)
    return store


def test_one_replica_at_a_time_holds_a_conversation(monkeypatch: Any) -> None:
    first, second = store_on_local_redis(monkeypatch), store_on_local_redis(monkeypatch)  # two replicas
    conversation = f"web:lock-test-{time.time_ns()}"
    order: list[str] = []

    async def handle(store: ConversationLockStore, name: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        async with store.lock(conversation, lock_lifetime=5):
            order.append(f"{name} in")
            await asyncio.sleep(0.2)
            order.append(f"{name} out")

    async def both() -> None:
        await asyncio.gather(handle(first, "a", 0), handle(second, "b", 0.05))

    asyncio.run(both())
    assert order == ["a in", "a out", "b in", "b out"]
    assert not first.held(conversation)  # given back


def test_a_dead_holders_lock_expires_and_is_not_given_back_by_it(monkeypatch: Any) -> None:
    store = store_on_local_redis(monkeypatch)
    conversation = f"web:lock-test-{time.time_ns()}"
    # A replica killed while it held the lock: its key stays until its lifetime ends.
    store.red.set(store.key(conversation), "dead-replica", px=300)

    async def after_it() -> float:
        started = time.monotonic()
        async with store.lock(conversation, lock_lifetime=5):
            waited = time.monotonic() - started
            assert 0 < store.red.pttl(store.key(conversation)) <= 5000  # it too expires if this one dies
            # The dead one's late release (a different token) leaves this holder's lock alone.
            store._release(keys=[store.key(conversation)], args=["dead-replica"])
            assert store.held(conversation)
        return waited

    assert 0.2 < asyncio.run(after_it()) < 2
    assert not store.held(conversation)


def test_a_lock_held_past_its_lifetime_and_the_wait_is_an_error(monkeypatch: Any) -> None:
    store = store_on_local_redis(monkeypatch)
    conversation = f"web:lock-test-{time.time_ns()}"
    store.red.set(store.key(conversation), "someone", px=5000)

    async def waiting() -> None:
        async with store.lock(conversation, lock_lifetime=0.3, wait_time_in_seconds=0.1):
            pass

    with pytest.raises(LockError):
        asyncio.run(waiting())
    store.red.delete(store.key(conversation))


def test_a_failure_inside_gives_the_lock_back(monkeypatch: Any) -> None:
    store = store_on_local_redis(monkeypatch)
    conversation = f"web:lock-test-{time.time_ns()}"

    async def failing() -> None:
        async with store.lock(conversation, lock_lifetime=5):
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        asyncio.run(failing())
    assert not store.held(conversation)
