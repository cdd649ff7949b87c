"""From a resident's message to the bot's replies, whatever the channel.

Platform updates are first stored in the inbox (a redelivered update is dropped there), then handled
one chat at a time in arrival order: two quick messages of one resident reach Rasa in the order sent,
while other chats go on in parallel. Replies for Telegram and Zalo go to the outbox; the web chat gets
them in the HTTP response. If Rasa is down the resident gets a short "busy, try again" reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bot.gateway.events import EventReporter
from bot.gateway.messages import BUSY_TEXT, Incoming, Outgoing, say
from bot.gateway.rasa import RasaClient, RasaUnavailable
from bot.gateway.store import Store

log = logging.getLogger("gateway")

Deliver = Callable[[Incoming, list[Outgoing]], Awaitable[None]]


class Conversations:
    def __init__(self, store: Store, rasa: RasaClient, events: EventReporter | None = None) -> None:
        self.store = store
        self.rasa = rasa
        self.events = events
        self.deliver: dict[str, Deliver] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def on(self, channel: str, deliver: Deliver) -> None:
        """Where replies of a channel go (the channel enqueues them in the outbox)."""
        self.deliver[channel] = deliver

    async def answer(self, message: Incoming) -> list[Outgoing]:
        """The bot's replies to one message, in this chat's turn."""
        async with self._lock(message.sender):
            return await self._ask(message)

    async def _ask(self, message: Incoming) -> list[Outgoing]:
        referral, started = self.store.chat_referral(message.sender, message.referral_code)
        if started and referral and self.events is not None:
            self.events.report(referral, "chat_started")
        if referral != message.referral_code:
            message = replace(message, referral_code=referral)
        try:
            return await self.rasa.reply(message)
        except RasaUnavailable as error:
            log.warning("Rasa unavailable for a %s message: %s", message.channel, error)
            return [Outgoing(text=say(BUSY_TEXT, message.language))]

    def receive(self, key: str, message: Incoming) -> bool:
        """Accept a platform update for handling in the background; False for a redelivery."""
        if not self.store.accept(key, message.sender, _to_json(message)):
            return False
        self._spawn(self._handle(key, message))
        return True

    def resume(self) -> int:
        """Handle what was accepted but not handled before a restart, in order."""
        pending = self.store.pending()
        for key, body in pending:
            self._spawn(self._handle(key, _from_json(body)))
        return len(pending)

    async def drain(self) -> None:
        """Wait for background handling (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _handle(self, key: str, message: Incoming) -> None:
        async with self._lock(message.sender):
            replies = await self._ask(message)
            deliver = self.deliver.get(message.channel)
            if deliver is not None:
                await deliver(message, replies)
            self.store.finish(key)

    def _lock(self, sender: str) -> asyncio.Lock:
        # Tasks acquire in creation order (asyncio locks are fair), so a chat's messages keep their order.
        return self._locks.setdefault(sender, asyncio.Lock())

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _to_json(message: Incoming) -> dict[str, Any]:
    return {"channel": message.channel, "chat_id": message.chat_id, "text": message.text,
            "referral_code": message.referral_code, "language": message.language}


def _from_json(data: dict[str, Any]) -> Incoming:
    return Incoming(channel=data["channel"], chat_id=data["chat_id"], text=data["text"],
                    referral_code=data.get("referral_code"), language=data.get("language"))
