"""Sending replies to Telegram and Zalo: persistent, in order per chat, rate-limited, retried.

A reply is stored before it is sent (`Store.enqueue`) and deleted once the platform took it, so a
crash or an outage loses nothing. Failures are retried with exponential backoff (or after the
platform's own `retry_after`); errors that cannot succeed (the user blocked the bot, a malformed
message) are not retried. Limits: `send_rate_per_s` overall and one message per
`per_chat_interval_s` per chat, as Telegram asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from api.core.metrics import SENDS
from bot.gateway.store import Store

log = logging.getLogger("gateway.outbox")


@dataclass
class SendFailed(Exception):
    reason: str
    permanent: bool = False
    retry_after_s: float | None = None


class Sender(Protocol):
    async def send(self, chat_id: str, body: dict[str, Any]) -> None:
        """Deliver one stored message, or raise SendFailed."""


class Outbox:
    def __init__(self, store: Store, senders: dict[str, Sender], *, rate_per_s: float = 30.0,
                 per_chat_interval_s: float = 1.0, max_attempts: int = 8) -> None:
        self.store = store
        self.senders = senders
        self.interval = 1.0 / rate_per_s
        self.per_chat_interval = per_chat_interval_s
        self.max_attempts = max_attempts
        self._last_send = 0.0
        self._last_by_chat: dict[tuple[str, str], float] = {}
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            sent = await self.flush()
            if not sent:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=0.2)

    async def flush(self) -> int:
        """Send every message that is due now (respecting the limits); returns how many were tried."""
        tried = 0
        for item in self.store.due():
            sender = self.senders.get(item.channel)
            chat = (item.channel, item.chat_id)
            if sender is None or time.monotonic() - self._last_by_chat.get(chat, -1e9) < self.per_chat_interval:
                continue  # this chat's next message waits for the next round; others go on
            await self._pace(chat)
            tried += 1
            try:
                await sender.send(item.chat_id, self.store.open(item.body))
            except SendFailed as failure:
                SENDS.labels(item.channel, "dropped" if failure.permanent else "retry").inc()
                if failure.permanent:
                    log.warning("%s send dropped after a permanent error: %s", item.channel, failure.reason)
                    self.store.give_up(item.id, failure.reason)
                else:
                    backoff = failure.retry_after_s or min(2.0 ** item.attempts, 300.0)
                    self.store.retry(item.id, after=timedelta(seconds=backoff), error=failure.reason,
                                     max_attempts=self.max_attempts)
                continue
            self.store.sent(item.id)
            SENDS.labels(item.channel, "sent").inc()
        return tried

    async def _pace(self, chat: tuple[str, str]) -> None:
        wait = self._last_send + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_send = self._last_by_chat[chat] = time.monotonic()
