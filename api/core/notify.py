"""Handing messages the API starts (reminders, announcements) to the channel gateway, which owns rate
limits, retries and each platform's rules; it drops a key it has already accepted."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Messages for one chat (`channel` telegram, zalo), or one message to a phone number: a ZNS template
    (`channel` "zns", `template_id`, `template_data`) or an SMS (`channel` "sms", `text`)."""

    key: str
    channel: str
    chat_id: str = ""
    language: str = "vi"
    messages: list[dict[str, Any]] = field(default_factory=list)
    phone: str = ""  # international form, 84xxxxxxxxx
    template_id: str = ""
    template_data: dict[str, str] = field(default_factory=dict)
    text: str = ""


PHONE_CHANNELS = ("zns", "sms")


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
        body: dict[str, Any]
        if delivery.channel in PHONE_CHANNELS:
            path, body = "/notify/phone", {"key": delivery.key, "via": delivery.channel, "phone": delivery.phone,
                                           "template_id": delivery.template_id,
                                           "template_data": delivery.template_data, "text": delivery.text}
        else:
            path, body = "/notify", {"key": delivery.key, "channel": delivery.channel, "chat_id": delivery.chat_id,
                                     "language": delivery.language, "messages": delivery.messages}
        try:
            response = self.client.post(path, json=body)
        except httpx.HTTPError:
            return "retry"
        if response.status_code in (200, 202):
            return "sent"
        try:
            answer = response.json()
            code = str(answer.get("code", response.status_code))
            # ZNS and SMS say why a number cannot be reached (details.reason): the plan records that.
            reason = str((answer.get("details") or {}).get("reason") or code)
        except (ValueError, AttributeError):
            code = reason = str(response.status_code)
        # Only the gateway's own verdicts on this person end the step: the platform's window is closed (409),
        # the number cannot be reached this way (409), the channel is not configured (404 channel_off).
        # Anything else — a wrong token after a key change, a gateway without this path mid-deploy, a
        # contract mismatch — is ours to fix, not a reason to give up on the resident: tried again later.
        if response.status_code == 409 or (response.status_code == 404 and code == "channel_off"):
            return f"undeliverable:{reason}"
        log.error("the gateway refused a notification: %d %s", response.status_code, code[:40])
        return "retry"
