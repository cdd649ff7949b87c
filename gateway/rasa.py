"""Rasa, as the gateway uses it: our `gateway` input channel (bot/channels.py), through nginx when
there are several replicas.

A replica can die while it handles a message (a deploy, a crash, the out-of-memory killer). The
message is then sent again, with the same id, to whichever replica answers — a little later, since
Rasa's conversation lock of the dead replica must expire first. If the dead replica had already
recorded the message, the channel answers from that record instead of handling it twice.

Each message carries the chat it came from, signed (`metadata["chat_identity"]`, common/chat_identity.py):
the actions pass it to the API, which counts its limits per verified chat and address. It is signed
on every attempt, so a message retried for a while still reaches the API with a fresh token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from common.chat_identity import METADATA_KEY, sign
from gateway.messages import Incoming, Outgoing, from_rasa

WEBHOOK = "/webhooks/gateway/webhook"

log = logging.getLogger("gateway")


class RasaUnavailable(Exception):
    """Rasa (or the action server behind it) did not answer properly."""


class RasaClient:
    def __init__(self, base_url: str, timeout_s: float = 20.0, transport: httpx.AsyncBaseTransport | None = None,
                 *, identity_key: bytes, retry_for_s: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)
        self.retry_for_s = retry_for_s
        self.timeout_s = timeout_s
        self.identity_key = identity_key
        self.clock = clock

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
                timeout = min(self.timeout_s, give_up_at - time.monotonic())
                return await self._post(message, message_id, attempt, timeout)
            except RasaUnavailable as error:
                # Which attempts failed, and how (a restart, a slow replica, one still handling it).
                log.info("attempt %d to Rasa failed: %s", attempt, error)
                if time.monotonic() + pause > retry_until:
                    raise
            await asyncio.sleep(pause)
            attempt, pause = attempt + 1, min(pause * 2, 5.0)

    def metadata(self, message: Incoming) -> dict[str, Any]:
        """What Rasa gets with the text: the message's own metadata and its chat, signed now."""
        identity = sign(self.identity_key, channel=message.channel, sender=message.chat_id, address=message.address,
                        now=self.clock())
        return {**message.metadata(), METADATA_KEY: identity}

    async def _post(self, message: Incoming, message_id: str, attempt: int, timeout_s: float) -> list[Outgoing]:
        if timeout_s <= 0:
            raise RasaUnavailable("no time left")
        try:
            # `expires_at`: when this attempt is given up on. A replica that only gets to it later (it was
            # loading its model, the request waited in its backlog) drops it instead of handling a
            # message that another attempt has handled or will handle.
            # httpx's timeout bounds each phase (connect, send, each read, a pooled connection) on its own;
            # asyncio.timeout bounds the attempt as a whole, which is what the resident waits for.
            async with asyncio.timeout(timeout_s):
                response = await self.client.post(WEBHOOK, json={
                    "sender": message.sender, "message": message.text, "metadata": self.metadata(message),
                    "message_id": message_id, "attempt": attempt, "expires_at": time.time() + timeout_s},
                    timeout=timeout_s)
        except TimeoutError as error:
            raise RasaUnavailable("attempt timed out") from error
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code != 200:
            raise RasaUnavailable(f"HTTP {response.status_code}")
        try:
            replies: Any = response.json()
        except ValueError as error:
            raise RasaUnavailable("not JSON") from error
        if not isinstance(replies, list):
            raise RasaUnavailable("unexpected body")
        return from_rasa([r for r in replies if isinstance(r, dict)])

    async def alive(self) -> bool:
        """Rasa answers its root path once the server is up (its model may still be loading)."""
        try:
            response = await self.client.get("/", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def close(self) -> None:
        await self.client.aclose()
