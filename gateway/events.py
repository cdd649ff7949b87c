"""Reports to the API what the gateway hears that the API keeps: cadres' link events (a link opened, a
chat started from it: counts for the cadre's funnel, without any identity), Zalo's and the SMS provider's
word that a reminder reached a phone, and an SMS "TC" asking that reminders stop. Sent in the background
with a few retries; a report lost while the API is down for long does not hold up any resident."""

from __future__ import annotations

import asyncio
import logging

import httpx

from common.keys import internal_token, master_from_environment
from gateway.config import VAR_DIR

log = logging.getLogger("gateway")
RETRY_DELAYS_S = (1.0, 5.0, 30.0)


class EventReporter:
    def __init__(self, api_url: str, *, transport: httpx.AsyncBaseTransport | None = None,
                 delays: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        master, _previous = master_from_environment(VAR_DIR / "secret.key")
        self.headers = {"X-Internal-Token": internal_token(master)}
        self.client = httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=5, transport=transport)
        self.delays = delays
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, code: str, kind: str) -> None:
        # 404: a code nobody issued (typed by hand, or a link since switched off): nothing to count.
        self._start(f"/api/v1/referrals/{code}/events", {"kind": kind}, f"referral {kind} event")

    def delivered(self, key: str) -> None:
        """A ZNS or SMS reminder (its key, the tracking id it was sent with) reached the phone."""
        self._start("/api/v1/reminders/delivered", {"key": key}, "reminder delivery")

    async def stop_phone(self, phone: str) -> bool:
        """Someone texted the stop keyword from this number: its reminders end. True once the API has it
        (the caller answers the provider only then, so a stop is never held in memory alone)."""
        try:
            response = await self.client.post("/api/v1/reminders/stop-phone", json={"phone": phone},
                                              headers=self.headers)
        except httpx.HTTPError:
            return False
        if response.status_code >= 400:
            log.error("SMS stop refused by the API: %d", response.status_code)
        return response.status_code < 500

    def _start(self, path: str, body: dict[str, str], what: str) -> None:
        task = asyncio.get_running_loop().create_task(self._send(path, body, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, path: str, body: dict[str, str], what: str) -> None:
        for delay in (0.0, *self.delays):
            await asyncio.sleep(delay)
            try:
                response = await self.client.post(path, json=body, headers=self.headers)
            except httpx.HTTPError:
                continue
            if response.status_code < 500:
                return
        log.warning("%s not recorded: API unreachable", what)  # never the body: it may hold a phone number

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Lets reports in flight finish; those still waiting to retry are given up."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        await self.drain()
        await self.client.aclose()
