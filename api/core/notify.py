"""Handing messages the API starts (reminders, announcements) to the channel gateway, which owns rate
limits, retries and each platform's rules; it drops a key it has already accepted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class Delivery:
    key: str
    channel: str
    chat_id: str
    language: str
    messages: list[dict[str, Any]]


class Notifier(Protocol):
    def send(self, delivery: Delivery) -> str:
        """"sent", "retry" (try again later) or "undeliverable:<reason>"."""


class GatewayNotifier:
    """Hands messages to the channel gateway, which owns rate limits, retries and platform rules."""

    def __init__(self, base_url: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=10, transport=transport,
                                   headers={"X-Internal-Token": token})

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> GatewayNotifier:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, delivery: Delivery) -> str:
        try:
            response = self.client.post("/notify", json={
                "key": delivery.key, "channel": delivery.channel, "chat_id": delivery.chat_id,
                "language": delivery.language, "messages": delivery.messages})
        except httpx.HTTPError:
            return "retry"
        if response.status_code in (200, 202):
            return "sent"
        if response.status_code >= 500 or response.status_code == 429:
            return "retry"
        try:
            code = str(response.json().get("code", response.status_code))
        except ValueError:
            code = str(response.status_code)
        return f"undeliverable:{code}"
