"""Telegram through aiogram 3: updates in (webhook or long polling), replies out through the outbox.

- Buttons become inline keyboards, one button per row (large targets for elderly residents); callback
  data over Telegram's 64-byte limit is replaced by a short token kept in the store; every button tap
  is answered so the client stops its spinner.
- `/start <code>` deep links carry a referral code into the conversation.
- A sticker reaches the assistant as its emoji, a photo as its caption.
- A voice note (or an audio file, a round video) is heard (gateway/speech.py) when an engine runs, else
  answered with a polite "please type"; a photo without caption, a file, a GIF, a location or a contact
  gets a short reply of the gateway's and the assistant's menu. Nothing a resident sends goes unanswered.
- Audio replies are sent as voice notes (OGG/Opus, converted with ffmpeg when needed, or as an audio
  file when ffmpeg is missing); pictures (a booking code's QR code) as photos captioned with their text
  alternative. Both are fetched by the gateway and uploaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import shutil
import subprocess
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Update

from gateway.conversation import Conversations
from gateway.coordination import Coordination, LocalCoordination
from gateway.messages import (
    CONTACT_RECEIVED,
    FILE_UNREADABLE,
    GREETING,
    LOCATION_RECEIVED,
    MENU,
    PHOTO_UNREADABLE,
    REFERRAL,
    VOICE_NOT_HEARD,
    Incoming,
    Outgoing,
    fetch_attachment,
    split_text,
)
from gateway.outbox import Outbox, SendFailed
from gateway.places import coordinates
from gateway.speech import MAX_AUDIO_BYTES
from gateway.store import Store

log = logging.getLogger("gateway.telegram")

TEXT_LIMIT = 4000          # Telegram allows 4096; a margin for entities
CALLBACK_LIMIT = 64        # bytes of callback_data


class TelegramChannel:
    def __init__(self, *, token: str, api_base: str, store: Store, conversations: Conversations, outbox: Outbox,
                 webhook_secret: str | None = None) -> None:
        self.bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
        self.store = store
        self.conversations = conversations
        self.outbox = outbox
        self.webhook_secret = webhook_secret
        conversations.on("telegram", self.deliver, self.fetch_voice)

    # --- in ---
    def authentic(self, header: str | None) -> bool:
        """The webhook's `X-Telegram-Bot-Api-Secret-Token`, compared in constant time."""
        return bool(self.webhook_secret) and hmac.compare_digest(header or "", self.webhook_secret or "")

    async def handle(self, data: dict[str, Any]) -> None:
        update = Update.model_validate(data, context={"bot": self.bot})
        key = f"telegram:update:{update.update_id}"
        if update.callback_query is not None:
            query = update.callback_query
            # Answered at once, outside the outbox: Telegram shows a spinner until then.
            try:
                await self.bot.answer_callback_query(query.id)
            except Exception as error:  # noqa: BLE001 - a late answer must not lose the tap itself
                log.warning("answerCallbackQuery failed: %s", type(error).__name__)
            if query.message is None or not query.data:
                return
            payload = self.store.long_payload(query.data) if query.data.startswith("p:") else query.data
            if payload:
                self.conversations.receive(key, Incoming("telegram", str(query.message.chat.id), payload))
            return
        message = update.message
        if message is None:
            return
        chat_id = str(message.chat.id)
        sound = message.voice or message.audio or message.video_note
        if sound is not None:
            if (sound.file_size or 0) > MAX_AUDIO_BYTES:
                if self.store.accept(key, f"telegram:{chat_id}", {}):
                    self.store.finish(key)
                    # Telegram does not tell the resident's language: the Vietnamese of the published words.
                    await self.deliver(Incoming("telegram", chat_id, ""),
                                       [Outgoing(text=self.conversations.wording.text(VOICE_NOT_HEARD))])
                return
            self.conversations.receive(key, Incoming("telegram", chat_id, "", voice=sound.file_id))
            return
        place = message.location or (message.venue.location if message.venue else None)
        found = coordinates(place.latitude, place.longitude) if place is not None else None
        if found is not None:
            await self.conversations.located_once(key, Incoming("telegram", chat_id, ""), found)
            return
        # A sticker says what its emoji says ("👍" to a yes/no question); a photo, what its caption says.
        sticker = message.sticker.emoji if message.sticker else None
        text = (message.text or message.caption or sticker or "").strip()
        if not text:
            # No words: the gateway says what it cannot read, the assistant shows its menu.
            self.conversations.receive(key, Incoming("telegram", chat_id, MENU, preface=_preface(message)))
            return
        referral = None
        if text.startswith("/start"):
            argument = text[len("/start"):].strip()
            referral = argument if REFERRAL.match(argument) else None
            text = GREETING
        self.conversations.receive(key, Incoming("telegram", chat_id, text, referral_code=referral))

    async def poll(self, stop: asyncio.Event, coordination: Coordination | None = None) -> None:
        """Long polling for local use (no public URL needed). Telegram serves one poller per bot: with
        several gateway processes, the one holding the poll lock polls and the others stand by."""
        async with (coordination or LocalCoordination()).lock("telegram-poll"):
            await self._poll(stop)

    async def _poll(self, stop: asyncio.Event) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        offset: int | None = None
        while not stop.is_set():
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=20,
                                                     allowed_updates=["message", "callback_query"])
            except Exception as error:  # noqa: BLE001 - network trouble: wait and poll again
                log.warning("getUpdates failed: %s", type(error).__name__)
                await asyncio.sleep(3)
                continue
            for update in updates:
                offset = update.update_id + 1
                await self.handle(update.model_dump(mode="json", exclude_none=True))

    # --- out ---
    async def deliver(self, message: Incoming, replies: list[Outgoing]) -> None:
        bodies: list[dict[str, Any]] = []
        for reply in replies:
            if reply.audio_url:
                bodies.append({"kind": "voice", "url": reply.voice_url or reply.audio_url,
                               "caption": reply.text[:1000]})
                continue
            if reply.image_url:
                # Telegram has no alt text for photos: the text alternative is the caption, read aloud too.
                bodies.append({"kind": "photo", "url": reply.image_url, "caption": reply.image_alt[:1000]})
                continue
            parts = split_text(reply.text, TEXT_LIMIT) or [""]
            keyboard = [[title, self.callback_data(payload)] for title, payload in
                        ((b.title, b.payload) for b in reply.buttons)]
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                bodies.append({"kind": "text", "text": part or "…", "buttons": keyboard if last else []})
        self.store.enqueue("telegram", message.chat_id, bodies)
        self.outbox.wake.set()

    def callback_data(self, payload: str) -> str:
        if len(payload.encode()) <= CALLBACK_LIMIT and not payload.startswith("p:"):
            return payload
        token = "p:" + hashlib.sha256(payload.encode()).hexdigest()[:30]
        self.store.short_payload(token, payload)
        return token

    async def send(self, chat_id: str, body: dict[str, Any]) -> None:
        try:
            if body["kind"] == "voice":
                await self._send_voice(chat_id, body)
                return
            if body["kind"] == "photo":
                await self._send_photo(chat_id, body)
                return
            markup = InlineKeyboardMarkup(inline_keyboard=[
                [InlineKeyboardButton(text=title[:64], callback_data=data)] for title, data in body["buttons"]
            ]) if body["buttons"] else None
            await self.bot.send_message(chat_id=int(chat_id), text=body["text"], reply_markup=markup)
        except SendFailed:
            raise  # a recording or picture that could not be fetched: as fetch_attachment judged it
        except TelegramRetryAfter as error:
            raise SendFailed("retry_after", retry_after_s=float(error.retry_after)) from error
        except (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound, TelegramUnauthorizedError) as error:
            # Blocked by the user, a message Telegram refuses, or a wrong token: retrying cannot help.
            raise SendFailed(type(error).__name__, permanent=True) from error
        except Exception as error:  # noqa: BLE001 - network errors and 5xx: retried with backoff
            raise SendFailed(type(error).__name__) from error

    async def _send_voice(self, chat_id: str, body: dict[str, Any]) -> None:
        data = await fetch_attachment(body["url"], "audio")
        name = body["url"].rsplit("/", 1)[-1] or "audio"
        caption = body.get("caption") or None
        voice = to_ogg_opus(data, name)
        if voice is not None:
            await self.bot.send_voice(chat_id=int(chat_id), voice=BufferedInputFile(voice, "loi-nhan.ogg"),
                                      caption=caption)
        else:
            await self.bot.send_audio(chat_id=int(chat_id), audio=BufferedInputFile(data, name), caption=caption)

    async def _send_photo(self, chat_id: str, body: dict[str, Any]) -> None:
        """Uploaded, not passed as a URL: Telegram's servers need not reach the API (the gateway does)."""
        data = await fetch_attachment(body["url"], "image")
        await self.bot.send_photo(chat_id=int(chat_id), photo=BufferedInputFile(data, "ma-qr.png"),
                                  caption=body.get("caption") or None)

    async def fetch_voice(self, file_id: str) -> bytes:
        """A voice note's audio from Telegram's file storage (getFile, then the download)."""
        data = await self.bot.download(file_id)
        if data is None:
            raise OSError("Telegram gave no file")
        return data.read(MAX_AUDIO_BYTES + 1)

    async def close(self) -> None:
        await self.bot.session.close()


def _preface(message: Any) -> str:
    """What the gateway says about a message without words before the menu ("" for a bare sticker)."""
    if message.photo:
        return PHOTO_UNREADABLE
    if message.location or message.venue:
        return LOCATION_RECEIVED  # only a location off the globe gets here
    if message.contact:
        return CONTACT_RECEIVED
    if message.sticker:
        return ""
    return FILE_UNREADABLE  # documents, GIFs, polls, dice, anything newer


def to_ogg_opus(data: bytes, name: str) -> bytes | None:
    """Telegram plays voice notes only as OGG/Opus. None when it cannot be made (no ffmpeg)."""
    if name.lower().endswith((".ogg", ".oga", ".opus")):
        return data
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    result = subprocess.run([ffmpeg, "-loglevel", "error", "-i", "pipe:0", "-c:a", "libopus", "-b:a", "32k",
                             "-f", "ogg", "pipe:1"], input=data, capture_output=True, timeout=60, check=False)
    return result.stdout if result.returncode == 0 and result.stdout else None
