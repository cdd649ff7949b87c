"""Rasa's REST channel, as the gateway uses it."""

from __future__ import annotations

from typing import Any

import httpx

from bot.gateway.messages import Incoming, Outgoing, from_rasa


class RasaUnavailable(Exception):
    """Rasa (or the action server behind it) did not answer properly."""


class RasaClient:
    def __init__(self, base_url: str, timeout_s: float = 20.0, transport: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)

    async def reply(self, message: Incoming) -> list[Outgoing]:
        try:
            response = await self.client.post("/webhooks/rest/webhook", json={
                "sender": message.sender, "message": message.text, "metadata": message.metadata()})
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
