"""Rasa, as the gateway uses it: our `gateway` input channel (bot/channels.py), through nginx when
there are several replicas.

A replica can die while it handles a message (a deploy, a crash, the out-of-memory killer). The
message is then sent again, with the same id, to whichever replica answers — a little later, since
Rasa's conversation lock of the dead replica must expire first. If the dead replica had already
recorded the message, the channel answers from that record instead of handling it twice.

A gateway has at most `in_flight` messages at Rasa at once (RASA_IN_FLIGHT); the others wait their turn
here, first come first served. A Rasa replica handles the messages it holds interleaved on one event
loop, so with twenty in hand each waits for all the others, and one that needs the API twice waits the
longest; in turn, a message waits for those ahead of it and then shares its replica with few others. It wants a
balancer that picks a replica per message (nginx's least_conn in the production profile): with a few
kept-alive connections balanced per connection, they could all land on one replica. A message whose
replica died keeps its turn while the survivor waits for the dead replica's conversation lock
(TICKET_LOCK_LIFETIME, 10 s), so after a crash the messages behind it may wait that long once. Measured
(bench/scale.py, 2 replicas, 2 gateways, 20 residents back to back): p95 1.5–1.6× the median instead of
1.9–2.1×, the slowest reply ≈ 0.6 s instead of 0.64–1.14 s, the same throughput (README, "An eleventh round").

Each message carries the chat it came from, signed (`metadata["chat_identity"]`, common/chat_identity.py):
the actions pass it to the API, which counts its limits per verified chat and address. It is signed
on every attempt, so a message retried for a while still reaches the API with a fresh token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx

from common.chat_identity import METADATA_KEY, sign
from gateway.messages import Incoming, Outgoing, from_rasa

WEBHOOK = "/webhooks/gateway/webhook"

log = logging.getLogger("gateway")


class RasaUnavailable(Exception):
    """Rasa (or the action server behind it) did not answer properly."""


class _Aiohttp:
    """The production wire: aiohttp, one session per event loop (made on first use) keeping its
    connections. httpx cost the gateway ≈ 0.7–0.8 ms of CPU per message on this hop against ≈ 0.25 ms for
    aiohttp (one kept-alive POST of a message and its replies; issue 21). Idle connections are closed after
    2 s, before Rasa's server (Sanic: 5 s) closes them, so an attempt never goes out on one it is closing."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            if session is not None and not session.closed:
                # A session of an earlier event loop (tests run several) cannot be used on this one, nor
                # closed from it: let it go without the warning aiohttp gives a session left open.
                session.detach()
            session = self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=2.0))
            self._loop = loop
        return session

    async def send(self, method: str, path: str, body: bytes | None, timeout_s: float) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            async with self._current().request(method, self.base_url + path, data=body, headers=headers,
                                               timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                return response.status, await response.read()
        except aiohttp.ClientError as error:
            raise RasaUnavailable(type(error).__name__) from error

    async def close(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = self._loop = None


class _Httpx:
    """A wire through an httpx transport: what tests hand in (`httpx.MockTransport` playing Rasa)."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, transport=transport)

    async def send(self, method: str, path: str, body: bytes | None, timeout_s: float) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = await self.client.request(method, path, content=body, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


class RasaClient:
    def __init__(self, base_url: str, timeout_s: float = 20.0, transport: httpx.AsyncBaseTransport | None = None,
                 *, identity_key: bytes, retry_for_s: float = 60.0, clock: Callable[[], float] = time.time,
                 in_flight: int = 0) -> None:
        base_url = base_url.rstrip("/")
        self.wire: _Aiohttp | _Httpx = _Aiohttp(base_url) if transport is None else _Httpx(base_url, transport)
        self.retry_for_s = retry_for_s
        self.timeout_s = timeout_s
        self.identity_key = identity_key
        self.clock = clock
        # How many messages this process has at Rasa at once (0: no limit), how many wait for a turn.
        self.in_flight, self.waiting, self.at_rasa = in_flight, 0, 0
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    async def reply(self, message: Incoming, message_id: str, *, since: float | None = None) -> list[Outgoing]:
        """The bot's replies; retried (same `message_id`) while no replica answers, for `retry_for_s`
        from `since` (a monotonic time: when the message arrived, so time spent waiting for the chat's
        turn counts). Whatever happens, this returns or raises within `retry_for_s + timeout_s` of it:
        the web chat's request is still open, and nginx gives up on it after 90 s."""
        start = time.monotonic() if since is None else since
        retry_until, give_up_at = start + self.retry_for_s, start + self.retry_for_s + self.timeout_s
        attempt, pause = 1, 0.5
        while True:
            try:
                async with self._turn(until=give_up_at):
                    timeout = min(self.timeout_s, give_up_at - time.monotonic())
                    return await self._post(message, message_id, attempt, timeout)
            except RasaUnavailable as error:
                # Which attempts failed, and how (a restart, a slow replica, one still handling it).
                log.info("attempt %d to Rasa failed: %s", attempt, error)
                if time.monotonic() + pause > retry_until:
                    raise
            await asyncio.sleep(pause)
            attempt, pause = attempt + 1, min(pause * 2, 5.0)

    @asynccontextmanager
    async def _turn(self, *, until: float) -> AsyncIterator[None]:
        """One of the `in_flight` places at Rasa, held for one attempt, waited for in arrival order until
        `until` (a monotonic time: the message's whole budget, after which it gets the busy reply). A
        failed attempt gives its place back before pausing, so a Rasa that is down holds nobody up."""
        if not self.in_flight:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:  # tests run several event loops
            self._turns = (loop, asyncio.Semaphore(self.in_flight))
        turns = self._turns[1]
        left = until - time.monotonic()
        if left <= 0:
            raise RasaUnavailable("no time left for a turn")
        self.waiting += 1
        try:
            async with asyncio.timeout(left):
                await turns.acquire()
        except TimeoutError as error:
            raise RasaUnavailable("no turn at Rasa in time") from error
        finally:
            self.waiting -= 1
        self.at_rasa += 1
        try:
            yield
        finally:
            self.at_rasa -= 1
            turns.release()

    def metadata(self, message: Incoming) -> dict[str, Any]:
        """What Rasa gets with the text: the message's own metadata and its chat, signed now."""
        identity = sign(self.identity_key, channel=message.channel, sender=message.chat_id, address=message.address,
                        now=self.clock())
        return {**message.metadata(), METADATA_KEY: identity}

    async def _post(self, message: Incoming, message_id: str, attempt: int, timeout_s: float) -> list[Outgoing]:
        if timeout_s <= 0:
            raise RasaUnavailable("no time left")
        # `expires_at`: when this attempt is given up on. A replica that only gets to it later (it was
        # loading its model, the request waited in its backlog) drops it instead of handling a message
        # that another attempt has handled or will handle.
        body = json.dumps({
            "sender": message.sender, "message": message.text, "metadata": self.metadata(message),
            "message_id": message_id, "attempt": attempt, "expires_at": time.time() + timeout_s}).encode()
        try:
            # The wire's own timeout bounds the request; asyncio.timeout bounds the attempt as a whole
            # (a connection waited for included), which is what the resident waits for.
            async with asyncio.timeout(timeout_s):
                status, content = await self.wire.send("POST", WEBHOOK, body, timeout_s)
        except TimeoutError as error:
            raise RasaUnavailable("attempt timed out") from error
        if status != 200:
            raise RasaUnavailable(f"HTTP {status}")
        try:
            replies: Any = json.loads(content)
        except ValueError as error:
            raise RasaUnavailable("not JSON") from error
        if not isinstance(replies, list):
            raise RasaUnavailable("unexpected body")
        return from_rasa([r for r in replies if isinstance(r, dict)])

    async def alive(self) -> bool:
        """Rasa answers its root path once the server is up (its model may still be loading)."""
        try:
            async with asyncio.timeout(2):
                status, _ = await self.wire.send("GET", "/", None, 2)
        except (RasaUnavailable, TimeoutError):
            return False
        return status == 200

    async def close(self) -> None:
        await self.wire.close()
