"""Zalo Official Account (OA API v3): webhook in, consultation messages out through the outbox.

- The webhook is genuine only with `X-ZEvent-Signature: mac=<sha256(app_id + raw body + timestamp +
  OA secret key)>` (401 otherwise); it is acknowledged at once and handled in the background.
- A genuine event is also fresh: its `timestamp` (ms) within `max_event_age_s` before now and
  `max_event_ahead_s` after. The signature never expires and the inbox forgets keys after a few
  days, so a captured event replayed later would act again (a "yes" to cancel, a booking step).
  A stale one is answered 200 — Zalo must not retry it — counted and logged, and dropped.
- Buttons are `oa.query.show` buttons whose payload is their own title, so the resident sees what
  they tapped in plain words; the gateway maps the title back to the assistant's payload.
- OA cannot send voice notes: audio goes as a "listen" link button. A picture (a booking code's QR
  code) is fetched by the gateway, uploaded to Zalo and sent as an image with its text alternative under it.
- A resident's voice note (`user_send_audio`, an AAC/M4A link) is fetched over HTTPS with a size cap and
  heard; a sticker, photo, GIF, file, link, location or business card gets a short reply and the
  assistant's menu; an event of a kind not known here is logged and acknowledged.
- The access token is refreshed with the one-time refresh token; the new pair is stored encrypted
  (one refresh at a time across all gateway processes, since a refresh token works once).
  Error -216 refreshes and retries,
  -32 (rate limit) backs off, -213/-230 (the person cannot be messaged) are not retried.
- `ZaloApi` is the small interface the channel needs, so the Telegram-like Zalo Bot API can be
  added as another implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any, Protocol

import httpx
from cryptography.fernet import MultiFernet
from prometheus_client import Counter

from gateway.conversation import Conversations
from gateway.coordination import Coordination, LocalCoordination
from gateway.messages import (
    CONTACT_RECEIVED,
    FILE_UNREADABLE,
    GREETING,
    LISTEN,
    LOCATION_RECEIVED,
    MENU,
    MORE_CHOICES,
    PHOTO_UNREADABLE,
    VOICE_MESSAGE,
    VOICE_NOT_UNDERSTOOD,
    Incoming,
    Outgoing,
    fetch_attachment,
    split_text,
)
from gateway.outbox import Outbox, SendFailed
from gateway.places import coordinates
from gateway.speech import MAX_AUDIO_BYTES
from gateway.store import Store

log = logging.getLogger("gateway.zalo")

TEXT_LIMIT = 2000
BUTTONS_PER_MESSAGE = 5
TOKEN_NAME = "zalo"
# Zalo error codes (OA API v3).
INVALID_TOKEN = -216
RATE_LIMITED = -32
CANNOT_MESSAGE = (-213, -230)
# ZNS (template messages to a phone number): its own error table. What each means for the delivery plan
# is in gateway/phone.py.
ZNS_INVALID_TOKEN = -124
# Signed events dropped for their age: a few are clock trouble, a run of them is someone replaying.
REFUSED_EVENTS = Counter("ksk_gateway_zalo_events_refused_total", "Signed Zalo events refused as not fresh",
                         ["reason"])


def signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()
    return f"mac={digest}"


class ZaloError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Zalo error {code}: {message}")
        self.code = code


class ZaloApi(Protocol):
    async def send(self, user_id: str, message: dict[str, Any]) -> None:
        """Send one message object; raise ZaloError or httpx errors."""

    async def upload_image(self, data: bytes, name: str) -> str:
        """Upload a picture (PNG/JPG, at most 1 MB) for a message to show; its attachment id."""


class OaApiClient:
    """OA API v3 with token refresh. `api_base`/`oauth_base` point at a local fake in tests."""

    def __init__(self, *, app_id: str, app_secret: str, initial_refresh_token: str, store: Store,
                 fernet: MultiFernet, api_base: str = "https://openapi.zalo.me",
                 oauth_base: str = "https://oauth.zaloapp.com", zns_base: str = "https://business.openapi.zalo.me",
                 transport: httpx.AsyncBaseTransport | None = None, coordination: Coordination | None = None) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.initial_refresh_token = initial_refresh_token
        self.store, self.fernet = store, fernet
        self.api_base, self.oauth_base = api_base.rstrip("/"), oauth_base.rstrip("/")
        self.zns_base = zns_base.rstrip("/")
        self.client = httpx.AsyncClient(timeout=15, transport=transport)
        # One refresh at a time across every gateway process: a refresh token works once.
        self.coordination = coordination or LocalCoordination()

    def _pair(self) -> dict[str, str]:
        stored = self.store.token(TOKEN_NAME)
        if stored is None:
            return {"access_token": "", "refresh_token": self.initial_refresh_token}
        return dict(json.loads(self.fernet.decrypt(stored.encode())))

    async def refresh(self, stale_access: str) -> None:
        async with self.coordination.lock("zalo-token-refresh"):
            pair = self._pair()
            if pair["access_token"] and pair["access_token"] != stale_access:
                return  # another send refreshed it meanwhile
            response = await self.client.post(
                f"{self.oauth_base}/v4/oa/access_token", headers={"secret_key": self.app_secret},
                data={"refresh_token": pair["refresh_token"], "app_id": self.app_id, "grant_type": "refresh_token"})
            body = response.json() if response.status_code == 200 else {}
            if not body.get("access_token") or not body.get("refresh_token"):
                raise ZaloError(int(body.get("error", -1) or -1), "refresh failed")
            fresh = {"access_token": body["access_token"], "refresh_token": body["refresh_token"]}
            self.store.save_token(TOKEN_NAME, self.fernet.encrypt(json.dumps(fresh).encode()).decode())

    async def send(self, user_id: str, message: dict[str, Any]) -> None:
        await self._post(f"{self.api_base}/v3.0/oa/message/cs",
                         {"recipient": {"user_id": user_id}, "message": message}, INVALID_TOKEN)

    async def upload_image(self, data: bytes, name: str) -> str:
        """A picture uploaded to Zalo (v2.0 upload API): a message shows it by its attachment id, so Zalo
        need not reach our servers for it."""
        body = await self._post(f"{self.api_base}/v2.0/oa/upload/image", {}, INVALID_TOKEN,
                                files={"file": (name, data, "image/png")})
        attachment = str((body.get("data") or {}).get("attachment_id") or "")
        if not attachment:
            raise ZaloError(-1, "upload gave no attachment id")
        return attachment

    async def template(self, phone: str, template_id: str, data: dict[str, str], tracking_id: str) -> str:
        """A ZNS template message to a phone number (84…), with the OA's token; Zalo's message id."""
        body = await self._post(f"{self.zns_base}/message/template",
                                {"phone": phone, "template_id": template_id, "template_data": data,
                                 "tracking_id": tracking_id}, ZNS_INVALID_TOKEN)
        return str((body.get("data") or {}).get("msg_id", ""))

    async def _post(self, url: str, payload: dict[str, Any], invalid_token: int, *,
                    files: dict[str, tuple[str, bytes, str]] | None = None) -> dict[str, Any]:
        """One call with the OA's access token (a JSON `payload`, or a multipart upload of `files`),
        refreshed once when Zalo says it expired; ZaloError for any other error Zalo answers."""
        for attempt in range(2):
            access = self._pair()["access_token"]
            if not access:
                await self.refresh(access)
                access = self._pair()["access_token"]
            headers = {"access_token": access}
            response = await (self.client.post(url, headers=headers, files=files) if files is not None
                              else self.client.post(url, headers=headers, json=payload))
            if response.status_code >= 500:
                raise httpx.HTTPStatusError("server error", request=response.request, response=response)
            body: dict[str, Any] = response.json()
            code = int(body.get("error", 0))
            if code == 0:
                return body
            if code == invalid_token and attempt == 0:
                await self.refresh(access)
                continue
            raise ZaloError(code, str(body.get("message", "")))
        raise ZaloError(invalid_token, "token refused after a refresh")

    async def close(self) -> None:
        await self.client.aclose()


# What the gateway says about each kind of message without words, before the assistant's menu.
WORDLESS = {"user_send_image": PHOTO_UNREADABLE, "user_send_gif": FILE_UNREADABLE,
            "user_send_file": FILE_UNREADABLE, "user_send_link": FILE_UNREADABLE,
            "user_send_location": LOCATION_RECEIVED, "user_send_business_card": CONTACT_RECEIVED,
            "user_send_sticker": ""}


class ZaloChannel:
    def __init__(self, *, app_id: str, oa_secret_key: str, api: ZaloApi, store: Store,
                 conversations: Conversations, outbox: Outbox, max_event_age_s: float = 600.0,
                 max_event_ahead_s: float = 120.0, media_transport: httpx.AsyncBaseTransport | None = None,
                 media_hosts: tuple[str, ...] = ("zdn.vn", "zadn.vn", "zalo.me", "zaloapp.com")) -> None:
        self.app_id, self.oa_secret_key = app_id, oa_secret_key
        self.api, self.store, self.conversations, self.outbox = api, store, conversations, outbox
        self.max_event_age_s, self.max_event_ahead_s = max_event_age_s, max_event_ahead_s
        # Voice notes are links to Zalo's storage; nothing else is fetched (no redirects elsewhere).
        self.media = httpx.AsyncClient(timeout=15.0, transport=media_transport, follow_redirects=False)
        self.media_hosts = media_hosts
        conversations.on("zalo", self.deliver, self.fetch_voice)

    # --- in ---
    def authentic(self, header: str | None, body: bytes) -> bool:
        try:
            timestamp = str(json.loads(body).get("timestamp", ""))
        except (ValueError, AttributeError):
            return False
        expected = signature(self.app_id, body, timestamp, self.oa_secret_key)
        return bool(timestamp) and hmac.compare_digest(header or "", expected)

    def stale(self, event: dict[str, Any]) -> str | None:
        """Why a signed event is not acted on ("old", "ahead"), or None when it is fresh."""
        age_s = time.time() - int(str(event.get("timestamp"))) / 1000
        if age_s > self.max_event_age_s:
            return "old"
        if -age_s > self.max_event_ahead_s:
            return "ahead"
        return None

    async def handle(self, event: dict[str, Any]) -> None:
        name = str(event.get("event_name", ""))
        reason = self.stale(event)
        if reason is not None:
            REFUSED_EVENTS.labels(reason).inc()
            # No sender or text here: only that it happened, for an alert on a run of them.
            log.warning("refused a signed Zalo %s event: timestamp too far %s", name[:40],
                        "in the past" if reason == "old" else "in the future")
            return
        if name == "user_received_message":
            # A ZNS template reached the phone: the reminder it carried is marked delivered.
            tracking = str((event.get("message") or {}).get("tracking_id") or "")
            if tracking and self.conversations.events is not None:
                self.conversations.events.delivered(tracking)
            return
        if name == "follow":
            user = str((event.get("follower") or {}).get("id", ""))
            if user:
                self.conversations.receive(f"zalo:follow:{user}:{event.get('timestamp')}",
                                           Incoming("zalo", user, GREETING))
            return
        user = str((event.get("sender") or {}).get("id", ""))
        message = event.get("message") or {}
        key = f"zalo:msg:{message.get('msg_id') or event.get('timestamp')}"
        if not user or name == "unfollow":
            return
        text = str(message.get("text") or "").strip()
        if name == "user_send_audio":
            url = _attachment_url(message)
            if url:
                self.conversations.receive(key, Incoming("zalo", user, "", voice=url))
            elif self.store.accept(key, f"zalo:{user}", {}):
                self.store.finish(key)
                # Zalo does not tell the resident's language: the Vietnamese of the published words.
                please_type = self.conversations.wording.text(VOICE_NOT_UNDERSTOOD)
                await self.deliver(Incoming("zalo", user, ""), [Outgoing(text=please_type)])
            return
        if name == "user_send_image" and text:  # a photo with a caption: the caption is the message
            name = "user_send_text"
        if name == "user_send_location":
            found = _attachment_coordinates(message)
            if found is not None:
                await self.conversations.located_once(key, Incoming("zalo", user, ""), found)
                return
        if name in WORDLESS:
            self.conversations.receive(key, Incoming("zalo", user, MENU, preface=WORDLESS[name]))
            return
        if name != "user_send_text":
            # Zalo adds kinds of events (reactions, seen receipts, …): acknowledged, not answered.
            log.info("a Zalo %s event was acknowledged without a reply", name[:40])
            return
        if text:
            # A tapped button arrives as its title: the assistant gets the payload behind it.
            text = self.store.long_payload(_button_key(user, text)) or text
            self.conversations.receive(key, Incoming("zalo", user, text))

    async def close(self) -> None:
        await self.media.aclose()

    async def fetch_voice(self, url: str) -> bytes:
        """A voice note's audio from its Zalo link (HTTPS to Zalo's own storage only, at most
        MAX_AUDIO_BYTES): a link to anywhere else, even in a signed event, is not fetched."""
        parsed = httpx.URL(url)
        host = parsed.host.lower()
        if parsed.scheme != "https" or not any(host == h or host.endswith(f".{h}") for h in self.media_hosts):
            raise OSError("a voice note link outside Zalo's storage")
        async with self.media.stream("GET", url) as response:
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > MAX_AUDIO_BYTES:
                    raise OSError("a voice note larger than any voice note")
        return bytes(data)

    # --- out ---
    async def deliver(self, message: Incoming, replies: list[Outgoing]) -> None:
        # Words are chosen now, in the resident's language: the outbox sends these bodies as they are.
        text, language = self.conversations.wording.text, message.language
        bodies: list[dict[str, Any]] = []
        for reply in replies:
            if reply.audio_url:
                bodies.append({"text": reply.text or text(VOICE_MESSAGE, language),
                               "buttons": [], "link": [text(LISTEN, language), reply.audio_url]})
                continue
            if reply.image_url:
                # Zalo shows an image with a text under it, no alt: the text alternative is that text.
                bodies.append({"text": reply.image_alt, "buttons": [], "image": reply.image_url})
                continue
            parts = split_text(reply.text, TEXT_LIMIT) or [""]
            for button in reply.buttons:
                self.store.short_payload(_button_key(message.chat_id, button.title[:100]), button.payload)
            titles = [b.title[:100] for b in reply.buttons]
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                bodies.append({"text": part or "…", "buttons": titles[:BUTTONS_PER_MESSAGE] if last else []})
            for start in range(BUTTONS_PER_MESSAGE, len(titles), BUTTONS_PER_MESSAGE):
                bodies.append({"text": text(MORE_CHOICES, language),
                               "buttons": titles[start:start + BUTTONS_PER_MESSAGE]})
        self.store.enqueue("zalo", message.chat_id, bodies)
        self.outbox.wake.set()

    async def send(self, chat_id: str, body: dict[str, Any]) -> None:
        buttons = [{"title": title, "type": "oa.query.show", "payload": title} for title in body["buttons"]]
        if body.get("link"):
            title, url = body["link"]
            buttons = [{"title": title, "type": "oa.open.url", "payload": {"url": url}}]
        message: dict[str, Any] = {"text": body["text"]}
        if buttons:
            message["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
        try:
            if body.get("image"):
                # Uploaded again on a retry: an attachment id is cheap, and a stored one may have expired.
                picture = await self.api.upload_image(await fetch_attachment(body["image"], "image"), "ma-qr.png")
                message["attachment"] = {"type": "template", "payload": {
                    "template_type": "media", "elements": [{"media_type": "image", "attachment_id": picture}]}}
            await self.api.send(chat_id, message)
        except SendFailed:
            raise  # the picture could not be fetched from our servers: as fetch_attachment judged it
        except ZaloError as error:
            if error.code in CANNOT_MESSAGE:
                raise SendFailed(str(error), permanent=True) from error
            raise SendFailed(str(error), retry_after_s=30.0 if error.code == RATE_LIMITED else None) from error
        except httpx.HTTPError as error:
            raise SendFailed(type(error).__name__) from error


def _attachment_coordinates(message: dict[str, Any]) -> tuple[float, float] | None:
    attachments = message.get("attachments") or []
    first = attachments[0] if isinstance(attachments, list) and attachments else {}
    payload = first.get("payload") if isinstance(first, dict) else None
    point = payload.get("coordinates") if isinstance(payload, dict) else None
    return coordinates(point.get("latitude"), point.get("longitude")) if isinstance(point, dict) else None


def _attachment_url(message: dict[str, Any]) -> str:
    attachments = message.get("attachments") or []
    first = attachments[0] if isinstance(attachments, list) and attachments else {}
    payload = first.get("payload") if isinstance(first, dict) else None
    return str(payload.get("url") or "") if isinstance(payload, dict) else ""


def _button_key(user: str, title: str) -> str:
    return "zb:" + hashlib.sha256(f"{user}\n{title}".encode()).hexdigest()[:36]
