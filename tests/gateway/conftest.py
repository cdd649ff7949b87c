"""The gateway tests share the master secret (the API derives the same chat-identity key from it), a
fake Rasa, the local fakes of Telegram's Bot API and Zalo's OA API, and a fake of the API's content
bundle."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.env import TEST_SECRET, need, postgres_schema, redis_test_url
from tests.support.fake_rasa import FakeRasa
from tests.support.fake_telegram import FakeBotApi, running_fake_bot_api
from tests.support.fake_zalo import FakeOa, running_fake_oa


@pytest.fixture(autouse=True)
def master_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every gateway here signs chats with the tests' master secret and trusts no proxy unless told."""
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    # No API unless a test brings its fake: an API running on the developer's machine must not put its
    # published words into tests that expect the seeds (nothing listens on the discard port).
    monkeypatch.setenv("API_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("CONTENT_REFRESH_S", raising=False)
    # No speech engine unless a test brings one (a scripted engine, or the real one in test_speech.py):
    # voice notes get "please type", and no test loads the 235 MB model by chance.
    monkeypatch.setenv("SPEECH_ENGINE", "off")


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    with running_fake_bot_api() as fake:
        yield fake


@pytest.fixture
def oa() -> Iterator[FakeOa]:
    with running_fake_oa() as fake:
        yield fake


class FakeContentApi:
    """The API as the gateway sees it, served through httpx's mock transport: the content bundle
    (`messages` as staff published them, an ETag that changes with `publish`, 304 to a matching
    If-None-Match) and the referral events it reports. `down` makes every request fail to connect."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, str]] = {}
        self.version = 1
        self.down = False
        self.requests: list[httpx.Request] = []
        self.answers: list[int] = []        # HTTP status of each bundle answer
        self.lock = threading.Lock()

    def publish(self, key: str, **texts: str) -> None:
        with self.lock:
            self.messages[key] = {**self.messages.get(key, {}), **texts}
            self.version += 1

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'

    def bundle_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/api/v1/content/bundle"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            if self.down:
                raise httpx.ConnectError("API down", request=request)
            if request.url.path != "/api/v1/content/bundle":
                return httpx.Response(200, json={})
            if request.headers.get("If-None-Match") == self.etag:
                self.answers.append(304)
                return httpx.Response(304, headers={"ETag": self.etag})
            self.answers.append(200)
            body: dict[str, Any] = {"version": f"v{self.version}", "messages": json.loads(json.dumps(self.messages)),
                                    "audio": {}}
            return httpx.Response(200, json=body, headers={"ETag": self.etag})


@pytest.fixture
def content_api() -> FakeContentApi:
    return FakeContentApi()


# --- PostgreSQL and Redis for several gateways (test_scale.py, test_answer_budget.py) ---

REDIS_URL = redis_test_url("gateway")


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.RedisError as error:
        need(f"Redis at {REDIS_URL} not reachable: {type(error).__name__}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def gateway_db() -> Iterator[str]:
    """A PostgreSQL schema of its own for the shared gateway store."""
    with postgres_schema("ksk_gw") as url:
        yield url
