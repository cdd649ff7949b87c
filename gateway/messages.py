"""Channel-neutral messages: what came in from a resident, what goes out to them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from gateway.outbox import SendFailed
from gateway.wording import Wording

# What a referral code may look like (the API's booking field accepts the same, up to 32 characters).
REFERRAL_PATTERN = r"^[A-Za-z0-9_\-]{1,32}$"
REFERRAL = re.compile(REFERRAL_PATTERN)
# What "start" (Telegram's /start, following a Zalo OA) means to the assistant: not shown, not translated.
GREETING = "xin chào"
# What the gateway says itself is content keys (gateway.wording), said in the resident's language.
# The assistant's response when it cannot answer now: the gateway says it when Rasa or the chat turns
# are unavailable, in the domain's words (the one home of that sentence).
BUSY_RESPONSE = "utter_service_busy"
# The gateway's own, seeded in bot/texts/gateway.yml.
VOICE_NOT_UNDERSTOOD = "gateway_voice_not_understood"
VOICE_HEARD = "gateway_voice_heard"
VOICE_SHOWN = "gateway_voice_shown"
VOICE_READ_BACK = "gateway_voice_read_back"
VOICE_READ_BACK_YES = "gateway_voice_read_back_yes"
VOICE_READ_BACK_NO = "gateway_voice_read_back_no"
VOICE_SAY_AGAIN = "gateway_voice_say_again"
VOICE_READ_BACK_EXPIRED = "gateway_voice_read_back_expired"
VOICE_NOT_HEARD = "gateway_voice_not_heard"
PHOTO_UNREADABLE = "gateway_photo_unreadable"
FILE_UNREADABLE = "gateway_file_unreadable"
LOCATION_RECEIVED = "gateway_location_received"
CONTACT_RECEIVED = "gateway_contact_received"
# What the assistant is sent for a message that has no words (a photo, a file, a location): the menu,
# which Rasa says in any state (inside a form it asks the form's question again afterwards).
MENU = "/help"
VOICE_MESSAGE = "gateway_voice_message"
LISTEN = "gateway_listen"
MORE_CHOICES = "gateway_more_choices"


def busy_text(language: str | None = None, wording: Wording | None = None) -> str:
    """The busy reply in `wording` (the app's, with what staff published), else in the seed's words."""
    return (wording or Wording()).text(BUSY_RESPONSE, language)


@dataclass(frozen=True)
class Incoming:
    channel: str          # telegram | zalo | web
    chat_id: str          # the platform's id of the conversation
    text: str
    referral_code: str | None = None
    language: str | None = None
    # The web chat's client address (behind trusted proxies, the real one), signed with the chat so the
    # API can count limits per address; "" where the platform hides it (Telegram, Zalo). Personal
    # data: kept out of reprs and logs.
    address: str = field(default="", repr=False)
    # A voice note still to be heard: where its channel fetches it (a Telegram file id, a Zalo URL).
    # Once heard, `text` is the transcript and `voice_confidence` is set (the assistant is told).
    voice: str = field(default="", repr=False)
    voice_confidence: float | None = None
    # What the gateway says first, a content key (a photo: "I cannot read pictures yet"), before the
    # assistant answers `text`.
    preface: str = ""

    @property
    def sender(self) -> str:
        """Rasa's conversation id: one per platform chat."""
        return f"{self.channel}:{self.chat_id}"

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {"channel": self.channel}
        if self.referral_code:
            data["referral_code"] = self.referral_code
        if self.language:
            data["language"] = self.language
        if self.voice_confidence is not None:
            data["input"] = "voice"
            data["asr_confidence"] = round(self.voice_confidence, 2)
        return data


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Outgoing:
    text: str = ""
    buttons: tuple[Button, ...] = ()
    audio_url: str | None = None        # MP3: web player, Zalo link
    audio_language: str | None = None
    voice_url: str | None = None        # OGG/Opus of the same audio: Telegram voice note
    # What the question expects ("numeric": a CCCD, a phone number): the web chat opens the phone's
    # digit keyboard for it. Chat apps have no such hint.
    input_mode: str | None = None
    # A picture (a booking code's QR code, PNG): a Telegram photo, a Zalo image, an <img> on the web,
    # with `image_alt` as its text alternative (and caption where the app shows one).
    image_url: str | None = None
    image_alt: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "buttons": [[b.title, b.payload] for b in self.buttons],
                "audio_url": self.audio_url, "audio_language": self.audio_language, "voice_url": self.voice_url,
                "input_mode": self.input_mode, "image_url": self.image_url, "image_alt": self.image_alt}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        return cls(text=data.get("text") or "", buttons=tuple(Button(t, p) for t, p in data.get("buttons") or []),
                   audio_url=data.get("audio_url"), audio_language=data.get("audio_language"),
                   voice_url=data.get("voice_url"), input_mode=data.get("input_mode"),
                   image_url=data.get("image_url"), image_alt=data.get("image_alt") or "")

    def page(self) -> dict[str, Any]:
        """The reply as the web chat's page reads it (static/chat.js): no voice note, buttons as objects; a
        picture only when there is one, so replies without one keep their shape."""
        shown: dict[str, Any] = {
            "text": self.text, "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
            "audio_url": self.audio_url, "audio_language": self.audio_language, "input_mode": self.input_mode}
        if self.image_url:
            shown |= {"image_url": self.image_url, "image_alt": self.image_alt}
        return shown


# The input hints a response may carry (`custom: {input: numeric}` in the domain).
INPUT_MODES = ("numeric",)


def _image(reply: dict[str, Any]) -> tuple[str, str] | None:
    """(url, alt) of a picture: an attachment `{"type": "image", "payload": {"url", "alt"}}` (the actions',
    with its text alternative; an attachment rides on the message it belongs to without taking the place of
    its `custom` part, where the audio is) or Rasa's own `image` field (a bare URL). Web addresses only."""
    attachment = reply.get("attachment")
    if isinstance(attachment, dict) and attachment.get("type") == "image":
        payload = attachment.get("payload")
        url, alt = (payload.get("url"), payload.get("alt")) if isinstance(payload, dict) else (None, None)
    else:
        url, alt = reply.get("image"), None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    return url, str(alt or "")


def from_rasa(replies: list[dict[str, Any]]) -> list[Outgoing]:
    """Rasa REST replies → outgoing messages. A custom `{"audio": {...}}` payload becomes an audio
    message, an image attachment (or Rasa's `image`) a picture after the text; a custom `{"input": …}` (Rasa
    sends a response's custom part after its text) is the hint of the message before it."""
    out: list[Outgoing] = []
    for reply in replies:
        custom: dict[str, Any] = reply["custom"] if isinstance(reply.get("custom"), dict) else {}
        hint = custom.get("input") if custom.get("input") in INPUT_MODES else None
        if hint and out and not custom.get("audio"):
            out[-1] = replace(out[-1], input_mode=hint)
            continue
        audio = custom.get("audio")
        buttons = tuple(Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in reply.get("buttons") or []
                        if b.get("title") and b.get("payload"))
        if audio and audio.get("url"):
            # The note says when the audio is not in the resident's language: it travels as the caption.
            out.append(Outgoing(text=reply.get("text") or str(audio.get("note") or ""), audio_url=str(audio["url"]),
                                audio_language=audio.get("language"),
                                voice_url=str(audio["ogg_url"]) if audio.get("ogg_url") else None, input_mode=hint))
        elif reply.get("text") or buttons:
            out.append(Outgoing(text=reply.get("text") or "", buttons=buttons))
        picture = _image(reply)
        if picture is not None:
            out.append(Outgoing(image_url=picture[0], image_alt=picture[1]))
    return out


def split_text(text: str, limit: int) -> list[str]:
    """Long texts in parts no longer than `limit`, cut between paragraphs, else lines, else sentences,
    else words."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        sentence = max(window.rfind(". "), window.rfind("? "), window.rfind("! "))
        cut = next((c for c in (window.rfind("\n\n"), window.rfind("\n"), sentence + 1 if sentence >= 0 else -1,
                                window.rfind(" ")) if c > 0), limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


async def fetch_attachment(url: str, what: str) -> bytes:
    """A file a reply carries (a recording, a picture), fetched from our own servers to be uploaded to the
    platform; a refusal (a 404, a 422 for a malformed code) is not asked again, a busy or failing server is."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url)
    if response.status_code != 200:
        status = response.status_code
        raise SendFailed(f"{what} HTTP {status}", permanent=400 <= status < 500 and status not in (408, 429))
    return response.content
