"""The chat each message comes from, signed by the gateway for the API (common/chat_identity.py):
the right channel and platform id, the web chat's real client address (believed from a trusted
proxy's X-Forwarded-For only), signed afresh on every attempt, and kept through the inbox."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from common.chat_identity import METADATA_KEY, verify
from common.keys import chat_identity_key
from gateway.app import create_app, token_fernet
from gateway.config import GatewaySettings
from gateway.conversation import Conversations
from gateway.messages import Incoming
from gateway.rasa import RasaClient
from gateway.store import Store
from tests.support.env import TEST_SECRET
from tests.support.fake_rasa import FakeRasa, signed_chat

RESIDENT = "203.0.113.9"      # the resident's own address
CLAIMED = "198.51.100.66"     # the address a client would like the API to count instead
SESSION = "web-session-77"


@contextmanager
def web_chat(tmp_path: Path, rasa: FakeRasa, peer: str, settings: GatewaySettings | None = None
             ) -> Iterator[TestClient]:
    """The gateway's web chat, reached from `peer` (nginx on this machine, or a client directly)."""
    settings = settings or GatewaySettings()
    settings = settings.model_copy(update={"gateway_database_url": f"sqlite:///{tmp_path / 'gw.db'}",
                                           "rasa_retry_s": 0.0})
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa)), client=(peer, 50123)) as client:
        yield client


def say(client: TestClient, *, forwarded_for: str | None = None, text: str = "xin chao") -> None:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    response = client.post("/chat/messages", json={"session_id": SESSION, "text": text}, headers=headers)
    assert response.status_code == 200


def test_behind_nginx_the_web_chat_signs_the_address_nginx_saw(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    rasa = FakeRasa()
    caplog.set_level(logging.DEBUG)
    with web_chat(tmp_path, rasa, peer="127.0.0.1") as client:
        # nginx appends the address it accepted the connection from to whatever the client sent.
        say(client, forwarded_for=f"{CLAIMED}, {RESIDENT}")
    chat = signed_chat(rasa.seen[0]["metadata"])
    assert (chat.channel, chat.sender, chat.address) == ("web", SESSION, RESIDENT)
    assert chat.chat_key == rasa.seen[0]["sender"]
    assert RESIDENT not in caplog.text  # the address is signed, never logged


def test_a_direct_client_cannot_choose_its_address_with_a_forwarded_header(tmp_path: Path) -> None:
    rasa = FakeRasa()
    with web_chat(tmp_path, rasa, peer=RESIDENT) as client:
        say(client, forwarded_for=CLAIMED)
        say(client)
    assert [signed_chat(seen["metadata"]).address for seen in rasa.seen] == [RESIDENT, RESIDENT]


def test_trusted_proxies_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8")
    rasa = FakeRasa()
    with web_chat(tmp_path, rasa, peer="10.1.2.3") as proxied:  # a load balancer on the private network
        say(proxied, forwarded_for=RESIDENT)
    with web_chat(tmp_path, rasa, peer="127.0.0.1") as local:   # no longer a trusted proxy
        say(local, forwarded_for=CLAIMED)
    assert [signed_chat(seen["metadata"]).address for seen in rasa.seen] == [RESIDENT, "127.0.0.1"]


def test_the_identity_is_signed_with_the_deployments_key_and_afresh_on_every_attempt() -> None:
    """A Rasa replica that does not answer makes the gateway try again: each attempt carries a token
    issued at that attempt, so a message retried for a while still reaches the API fresh."""
    moments = [1_000_000.0, 1_000_300.0]
    clock = iter(moments)
    bodies: list[dict[str, Any]] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(503 if len(bodies) == 1 else 200, json=[])

    key = chat_identity_key(TEST_SECRET.encode())

    async def scenario() -> None:
        client = RasaClient("http://rasa", transport=httpx.MockTransport(rasa), identity_key=key, retry_for_s=5,
                            clock=lambda: next(clock))
        await client.reply(Incoming("zalo", "u-5", "co"), "id-1")
        await client.close()

    asyncio.run(scenario())
    tokens = [body["metadata"][METADATA_KEY] for body in bodies]
    assert [body["attempt"] for body in bodies] == [1, 2] and tokens[0] != tokens[1]
    first, second = (verify(key, token, now=now) for token, now in zip(tokens, moments, strict=True))
    assert first is not None and second is not None
    assert (first.issued, second.issued) == (1_000_000, 1_000_300)
    assert (second.channel, second.sender, second.address) == ("zalo", "u-5", "")
    # Only the deployment's key makes it: a token signed otherwise is not taken for this chat.
    assert verify(chat_identity_key(b"another deployment"), tokens[1], now=moments[1]) is None


def test_the_address_survives_the_inbox_to_another_gateway_process(tmp_path: Path) -> None:
    """A message accepted by one process is handled later, maybe by another: the address it came
    from is kept (sealed) with it, and signed by whoever sends it to Rasa."""
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    first = Conversations(Store(url, token_fernet()), RasaClient("http://unused", identity_key=b"unused"))
    # This process stops right after accepting the message, before handling it.
    first._spawn = lambda coroutine: coroutine.close()  # type: ignore[method-assign,attr-defined]
    assert first.receive("web:msg:1", Incoming("web", "web-session-5", "con o do khong", address=RESIDENT))
    asyncio.run(first.rasa.close())
    assert RESIDENT.encode() not in (tmp_path / "gw.db").read_bytes()  # sealed like the text

    rasa = FakeRasa()
    settings = GatewaySettings(gateway_database_url=url)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa))) as second:
        second.portal.call(second.app.state.conversations.drain)  # type: ignore[attr-defined]
    assert [seen["message"] for seen in rasa.seen] == ["con o do khong"]
    chat = signed_chat(rasa.seen[0]["metadata"])
    assert (chat.channel, chat.sender, chat.address) == ("web", "web-session-5", RESIDENT)
