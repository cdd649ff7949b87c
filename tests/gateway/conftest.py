"""The gateway tests share the master secret (the API derives the same chat-identity key from it), a
fake Rasa, and the local fakes of Telegram's Bot API and Zalo's OA API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.env import TEST_SECRET
from tests.support.fake_rasa import FakeRasa
from tests.support.fake_telegram import FakeBotApi, running_fake_bot_api
from tests.support.fake_zalo import FakeOa, running_fake_oa


@pytest.fixture(autouse=True)
def master_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every gateway here signs chats with the tests' master secret and trusts no proxy unless told."""
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)


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
