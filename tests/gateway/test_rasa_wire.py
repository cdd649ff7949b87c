"""The gateway's calls to Rasa over real HTTP, as served (aiohttp, connections kept; issue 21): what a
replica receives, its replies read back, and every way a replica can fail turned into a retry or the
busy reply, never an exception the web chat would turn into a 500."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from common.chat_identity import METADATA_KEY, verify
from common.keys import chat_identity_key
from gateway.messages import Incoming
from gateway.rasa import WEBHOOK, RasaClient, RasaUnavailable
from tests.support.env import TEST_SECRET

KEY = chat_identity_key(TEST_SECRET.encode())
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def replica(answer: Handler, *, keepalive_s: float = 75.0) -> AsyncIterator[tuple[str, set[Any]]]:
    """A Rasa replica on a free port answering the webhook with `answer`; yields its URL and the
    connections its requests came on (the client's address and port: one per TCP connection)."""
    connections: set[Any] = set()

    @web.middleware
    async def noted(request: web.Request, handler: Handler) -> web.StreamResponse:
        assert request.transport is not None
        connections.add(request.transport.get_extra_info("peername"))
        return await handler(request)

    async def root(_request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa")

    app = web.Application(middlewares=[noted])
    app.router.add_post(WEBHOOK, answer)
    app.router.add_get("/", root)
    runner = web.AppRunner(app, keepalive_timeout=keepalive_s, access_log=None)
    await runner.setup()
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        await runner.cleanup()


def client(url: str, **settings: Any) -> RasaClient:
    return RasaClient(url, identity_key=KEY, **{"timeout_s": 2.0, "retry_for_s": 1.0, **settings})


def test_a_message_goes_to_rasa_signed_and_its_replies_come_back_over_one_kept_connection() -> None:
    received: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        received.append({**await request.json(), "received_at": time.time()})
        return web.json_response([{"recipient_id": "x", "text": "Dạ, chào bác ạ",
                                   "buttons": [{"title": "Đặt lịch", "payload": "/book"}]}, "not a reply"])

    async def scenario() -> list[list[str]]:
        async with replica(webhook) as (url, connections):
            rasa = client(url + "/")
            try:
                answers = []
                for number in range(3):
                    replies = await rasa.reply(Incoming("web", "s1", f"chào {number} \ud800"), f"id-{number}")
                    answers.append([reply.text for reply in replies])
                assert await rasa.alive()
                assert len(connections) == 1  # kept alive, not one connection per message
            finally:
                await rasa.close()
        return answers

    answers = asyncio.run(scenario())
    assert answers == [["Dạ, chào bác ạ"]] * 3
    assert [body["message"] for body in received] == ["chào 0 \ud800", "chào 1 \ud800", "chào 2 \ud800"]
    first = received[0]
    # (Compared with when it arrived, not with the end of the test: a loaded machine may stall between.)
    assert first["message_id"] == "id-0" and first["attempt"] == 1 and first["expires_at"] > first["received_at"]
    identity = verify(KEY, first["metadata"][METADATA_KEY], now=time.time())
    assert identity is not None and identity.sender == "s1" and identity.channel == "web"


@pytest.mark.parametrize("failure", ["HTTP 500", "not JSON", "unexpected body", "connection dropped"])
def test_a_replica_that_fails_once_is_asked_again_with_the_same_message_id(failure: str) -> None:
    attempts: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.StreamResponse:
        attempts.append(await request.json())
        if len(attempts) == 1:
            if failure == "HTTP 500":
                return web.Response(status=500, text="Internal Server Error")
            if failure == "not JSON":
                return web.Response(text="<html>busy</html>", content_type="text/html")
            if failure == "unexpected body":
                return web.json_response({"error": "no"})
            assert request.transport is not None
            request.transport.close()  # a replica killed while it handled the message
            raise asyncio.CancelledError
        return web.json_response([{"text": "Dạ"}])

    async def scenario() -> list[str]:
        async with replica(webhook) as (url, _connections):
            rasa = client(url, retry_for_s=5.0)
            try:
                return [reply.text for reply in await rasa.reply(Incoming("web", "s1", "dat lich"), "id-7")]
            finally:
                await rasa.close()

    assert asyncio.run(scenario()) == ["Dạ"]
    assert [(a["message_id"], a["attempt"]) for a in attempts] == [("id-7", 1), ("id-7", 2)]


def test_a_replica_that_never_answers_properly_ends_in_rasa_unavailable_within_the_budget() -> None:
    async def webhook(_request: web.Request) -> web.Response:
        return web.Response(status=503)

    async def scenario() -> float:
        async with replica(webhook) as (url, _connections):
            rasa = client(url, retry_for_s=1.0)
            started = time.monotonic()
            try:
                with pytest.raises(RasaUnavailable, match="HTTP 503"):
                    await rasa.reply(Incoming("web", "s1", "dat lich"), "id-1")
                return time.monotonic() - started
            finally:
                await rasa.close()

    assert asyncio.run(scenario()) < 3.0


def test_no_replica_listening_is_rasa_unavailable_and_not_alive() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()

    async def scenario() -> bool:
        rasa = client(f"http://127.0.0.1:{port}", retry_for_s=0.3)
        try:
            with pytest.raises(RasaUnavailable):
                await rasa.reply(Incoming("web", "s1", "dat lich"), "id-1")
            return await rasa.alive()
        finally:
            await rasa.close()

    assert asyncio.run(scenario()) is False


def test_a_connection_the_replica_closed_while_idle_is_not_a_failed_attempt() -> None:
    attempts: list[int] = []

    async def webhook(request: web.Request) -> web.Response:
        attempts.append((await request.json())["attempt"])
        return web.json_response([{"text": "Dạ"}])

    async def scenario() -> int:
        # The replica closes idle connections after 0.3 s (Sanic: 5 s; the gateway drops its own after 2 s).
        async with replica(webhook, keepalive_s=0.3) as (url, connections):
            rasa = client(url)
            try:
                await rasa.reply(Incoming("web", "s1", "mot"), "id-1")
                await asyncio.sleep(0.8)
                await rasa.reply(Incoming("web", "s1", "hai"), "id-2")
            finally:
                await rasa.close()
            return len(connections)

    assert asyncio.run(scenario()) == 2
    assert attempts == [1, 1]


def test_one_client_serves_one_event_loop_after_another() -> None:
    async def webhook(_request: web.Request) -> web.Response:
        return web.json_response([{"text": "Dạ"}])

    rasa = client("http://unused")

    async def once(close: bool) -> str:
        async with replica(webhook) as (url, _connections):
            rasa.wire.base_url = url  # type: ignore[union-attr]
            try:
                return (await rasa.reply(Incoming("web", "s1", "chao"), "id-1"))[0].text
            finally:
                if close:
                    await rasa.close()

    # (As tests run it: each asyncio.run is a new event loop; the first leaves its session open.)
    assert asyncio.run(once(close=False)) == asyncio.run(once(close=True)) == "Dạ"
