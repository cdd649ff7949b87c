"""Sending replies to Telegram and Zalo: persistent, in order per chat, rate-limited, retried.

A reply is stored before it is sent (`Store.enqueue`) and deleted once the platform took it, so a
crash or an outage loses nothing. Failures are retried with exponential backoff (or after the
platform's own `retry_after`); errors that cannot succeed (the user blocked the bot, a malformed
message) are not retried. Limits: `send_rate_per_s` overall and one message per
`per_chat_interval_s` per chat, as Telegram asks — shared by every gateway process when they
coordinate through Redis, and a chat's sends are made by one process at a time, so its messages
keep their order and none goes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from api.core.metrics import SENDS
from gateway.coordination import Coordination
from gateway.store import OutboxItem, Store

log = logging.getLogger("gateway.outbox")

POLL_S = 0.2
IDLE_POLL_S = 2.0


@dataclass
class SendFailed(Exception):
    reason: str
    permanent: bool = False
    retry_after_s: float | None = None


class Sender(Protocol):
    async def send(self, chat_id: str, body: dict[str, Any]) -> None:
        """Deliver one stored message, or raise SendFailed."""


class Outbox:
    def __init__(self, store: Store, senders: dict[str, Sender], coordination: Coordination, *,
                 rate_per_s: float = 30.0, per_chat_interval_s: float = 1.0, max_attempts: int = 8) -> None:
        self.store = store
        self.senders = senders
        self.coordination = coordination
        self.interval = 1.0 / rate_per_s
        self.per_chat_interval = per_chat_interval_s
        self.max_attempts = max_attempts
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            timeout = POLL_S
            try:
                sent = await self.flush()
                # This process's own replies wake it at once. A chat's next message (one a second) or a
                # retry is looked for every POLL_S; with nothing waiting at all, only what another
                # process left behind is (IDLE_POLL_S): polling an empty outbox every 0.2 s was a
                # third of the gateway's CPU at a few messages a second (issue 21).
                if not sent and not self.store.pending():
                    timeout = IDLE_POLL_S
            except Exception:  # noqa: BLE001 - the database or Redis hiccuped: nothing is lost, try again
                log.exception("outbox round failed")
                sent = 0
            if not sent:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=timeout)

    async def flush(self) -> int:
        """Send every message that is due now (respecting the limits); returns how many were tried."""
        tried = 0
        for listed in self.store.due():
            chat = f"{listed.channel}:{listed.chat_id}"
            if listed.channel not in self.senders:
                continue
            async with self.coordination.lock(f"send:{chat}", wait=False) as mine:
                # Another process may be sending this chat's message, or may just have sent it.
                item = self.store.still_due(listed.id) if mine else None
                if item is None:
                    continue
                if not await self.coordination.take_turn(chat, self.per_chat_interval):
                    continue  # this chat's next message waits for the next round; others go on
                await asyncio.sleep(await self.coordination.next_slot(item.channel, self.interval))
                tried += 1
                await self._send(item)
        return tried

    async def _send(self, item: OutboxItem) -> None:
        try:
            await self.senders[item.channel].send(item.chat_id, self.store.open(item.body))
        except SendFailed as failure:
            SENDS.labels(item.channel, "dropped" if failure.permanent else "retry").inc()
            if failure.permanent:
                log.warning("%s send dropped after a permanent error: %s", item.channel, failure.reason)
                self.store.give_up(item.id, failure.reason)
            else:
                backoff = failure.retry_after_s or min(2.0 ** item.attempts, 300.0)
                self.store.retry(item.id, after=timedelta(seconds=backoff), error=failure.reason,
                                 max_attempts=self.max_attempts)
            return
        self.store.sent(item.id)
        SENDS.labels(item.channel, "sent").inc()
