"""From a resident's message to the bot's replies, whatever the channel.

Platform updates are first stored in the inbox (a redelivered update is dropped there), then handled
one chat at a time in arrival order: two quick messages of one resident reach Rasa in the order sent,
while other chats go on in parallel. The chat's turn is a lock shared by every gateway process
(`coordination.py`); whoever holds it takes the chat's earliest unhandled update from the inbox,
whichever process received it, so order holds across processes too. Updates a stopped process left
behind are picked up by the others (`sweep`). Replies for Telegram and Zalo go to the outbox; the web
chat gets them in the HTTP response. If Rasa is down the resident gets a short "busy, try again" reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from api.core.clientaddr import address_bucket
from common.masking import mask_echoes, mask_personal_digits
from gateway.coordination import Coordination, CoordinationUnavailable, LocalCoordination
from gateway.events import EventReporter
from gateway.messages import (
    VOICE_HEARD,
    VOICE_NOT_HEARD,
    VOICE_NOT_UNDERSTOOD,
    VOICE_READ_BACK,
    VOICE_READ_BACK_EXPIRED,
    VOICE_READ_BACK_NO,
    VOICE_READ_BACK_YES,
    VOICE_SAY_AGAIN,
    VOICE_SHOWN,
    Button,
    Incoming,
    Outgoing,
    busy_text,
)
from gateway.places import Places, answer_location
from gateway.rasa import RasaClient, RasaUnavailable
from gateway.read_back import NO, YES, answer_to, needs_read_back
from gateway.speech import SpeechBusy, SpeechEngine, SpeechError
from gateway.store import Store
from gateway.wording import Wording
from vntext.spoken import digits_from_speech

log = logging.getLogger("gateway")

Deliver = Callable[[Incoming, list[Outgoing]], Awaitable[None]]
# How a channel fetches a voice note's audio from its reference (Incoming.voice).
FetchVoice = Callable[[str], Awaitable[bytes]]
# An update still unhandled this long after it arrived has lost its process: another one takes it.
ORPHAN_AFTER = timedelta(seconds=30)
# How long a read-back waits for its "yes" (the resident is looking at it, or has moved on).
READ_BACK_WITHIN = timedelta(minutes=15)
# How far back the page's transcript reaches: Rasa ends a conversation after an hour of silence
# (bot/domain.yml session_config), and a transcript silent for as long goes with it.
TRANSCRIPT_SPAN = timedelta(minutes=60)


def might_be_tap(text: str) -> bool:
    """Whether `text` can be a button's payload: Rasa's start with "/" (bot/domain.yml, actions/questions.py),
    the read-back's are tokens (read_back.TOKEN). Anything else was typed or said, and the transcript's
    buttons are not read (and opened) for it: up to 40 sealed turns, up to ≈ 1 ms of CPU per message."""
    return text.startswith("/") or answer_to(text) is not None


def shown_text(text: str, recent: list[tuple[str, dict[str, Any]]]) -> str:
    """What the transcript keeps of a resident message: a button's payload as the title the resident
    tapped (from the last replies' buttons), typed numbers masked (common.masking: the page shows it
    again to whoever opens it next)."""
    for _id, body in reversed(recent):
        for title, payload in body.get("buttons") or []:
            if payload == text:
                return str(title)
    return mask_personal_digits(text)


class Conversations:
    def __init__(self, store: Store, rasa: RasaClient, events: EventReporter | None = None,
                 coordination: Coordination | None = None, wording: Wording | None = None,
                 speech: SpeechEngine | None = None, places: Places | None = None,
                 in_hand_per_address: int = 0) -> None:
        self.store = store
        self.rasa = rasa
        self.events = events
        self.coordination = coordination or LocalCoordination()
        self.wording = wording or Wording()
        self.speech = speech
        self.places = places
        self.deliver: dict[str, Deliver] = {}
        self.fetch_voice: dict[str, FetchVoice] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Web messages of one client address in this process at once (0: no limit): they wait for their
        # turn at Rasa first come first served, so a script writing from many chats at once would
        # otherwise queue ahead of every resident; beyond this it gets the busy reply.
        self.in_hand_per_address = in_hand_per_address
        self._in_hand: Counter[str] = Counter()

    def on(self, channel: str, deliver: Deliver, fetch_voice: FetchVoice | None = None) -> None:
        """Where replies of a channel go (the channel enqueues them in the outbox), and how it fetches
        a voice note's audio."""
        self.deliver[channel] = deliver
        if fetch_voice is not None:
            self.fetch_voice[channel] = fetch_voice

    async def located(self, message: Incoming, latitude: float, longitude: float) -> list[Outgoing]:
        """The nearest sites to a shared location (used for this answer only: not sent to Rasa, not kept)."""
        return await answer_location(self.places, self.wording, message.language, latitude, longitude)

    async def located_once(self, key: str, message: Incoming, found: tuple[float, float]) -> None:
        """A chat app's shared location, answered at once and not through the inbox (the coordinates are
        used for this answer and kept nowhere); a redelivered update (`key` seen) is dropped."""
        if not self.store.accept(key, message.sender, {}):
            return
        self.store.finish(key)
        deliver = self.deliver.get(message.channel)
        if deliver is not None:
            await deliver(message, await self.located(message, *found))

    async def hear(self, message: Incoming, audio: bytes | None = None) -> Incoming | list[Outgoing]:
        """A voice note as the message its words make (numbers said as digits written as digits), or,
        when nothing can be heard, the replies that say so. `audio` is the note itself (the web chat);
        otherwise the channel fetches it by `message.voice`."""
        fetch = self.fetch_voice.get(message.channel)
        if self.speech is None or (audio is None and fetch is None):
            return [Outgoing(text=self.wording.text(VOICE_NOT_UNDERSTOOD, message.language))]
        try:
            if audio is None and fetch is not None:
                audio = await fetch(message.voice)
            transcript = await self.speech.transcribe(audio or b"")
        except SpeechBusy:
            log.warning("a %s voice note found the speech engine full: busy reply", message.channel)
            return [Outgoing(text=busy_text(message.language, self.wording))]
        except SpeechError as error:
            log.info("a %s voice note was not heard: %s", message.channel, error)
            transcript = None
        except Exception as error:  # noqa: BLE001 - the platform's download failed: said, not lost silently
            log.warning("a %s voice note could not be fetched: %s", message.channel, type(error).__name__)
            transcript = None
        if transcript is None or not transcript.text:
            return [Outgoing(text=self.wording.text(VOICE_NOT_HEARD, message.language))]
        return replace(message, text=digits_from_speech(transcript.text), voice="",
                       voice_confidence=transcript.confidence)

    async def answer(self, message: Incoming, message_id: str | None = None, *, sent_before: bool = True
                     ) -> list[Outgoing]:
        """The bot's replies to one message of the web chat, in this chat's turn, within the Rasa
        client's budget from its arrival (the resident's request is open, and nginx closes it after
        90 s): a turn that does not come in time gets the busy reply, like a Rasa that does not answer.

        `message_id` is the page's id of the message: the exchange joins the chat's transcript (shown
        again after a reload), and the same message sent again (its response was lost with the
        connection) gets the replies it already had instead of a second turn. `sent_before` False (the
        page says this is the message's first sending) skips looking for those replies, unless the chat's
        turn was taken when it asked: its resend, arriving later, may have been answered first."""
        bucket = address_bucket(message.address) if message.address and self.in_hand_per_address else ""
        if bucket and self._in_hand[bucket] >= self.in_hand_per_address:
            log.warning("a web message found %d of its address's messages in hand: busy reply", self._in_hand[bucket])
            return [Outgoing(text=busy_text(message.language, self.wording))]
        if bucket:
            self._in_hand[bucket] += 1
        try:
            return await self._answer(message, message_id, sent_before)
        finally:
            if bucket:
                self._in_hand[bucket] -= 1
                if not self._in_hand[bucket]:
                    del self._in_hand[bucket]

    async def _answer(self, message: Incoming, message_id: str | None, sent_before: bool) -> list[Outgoing]:
        asked, budget = time.monotonic(), self.rasa.retry_for_s + self.rasa.timeout_s
        try:
            async with self.coordination.lock(f"chat:{message.sender}", within_s=budget) as mine:
                waited = time.monotonic() - asked
                if not mine:
                    log.warning("a web message waited %.0f s for its chat's turn in vain", waited)
                    return [Outgoing(text=busy_text(message.language, self.wording))]
                if waited > 5:
                    log.info("a web message waited %.0f s for its chat's turn", waited)
                if message_id is None:
                    replies = await self._ask(message, uuid.uuid4().hex, since=asked)
                else:
                    # A first sending that found its chat's turn taken may come after its own resend
                    # (Redis hands a freed lock to whichever waiter asks first): it looks too.
                    replies = await self._remembered(message, message_id, since=asked,
                                                     sent_before=sent_before or mine.after_another)
        except CoordinationUnavailable as error:
            log.warning("chat turns unavailable (%s): the resident is asked to try again", error)
            return [Outgoing(text=busy_text(message.language, self.wording))]
        if time.monotonic() - asked > 10:
            # Slow answers, whole: the turn, every attempt (logged by the Rasa client), the reply.
            log.info("a web message was answered after %.0f s (%.0f s waiting for its turn)",
                     time.monotonic() - asked, waited)
        return replies

    async def _remembered(self, message: Incoming, message_id: str, *, since: float, sent_before: bool
                          ) -> list[Outgoing]:
        # The transcript's statements run in a worker thread: on PostgreSQL a message's insert waited
        # ≈ 4–8 ms for its commit while bench/scale.py ran, and the event loop, with every other chat of
        # this gateway on it, waited with it.
        earlier = (await asyncio.to_thread(self.store.answered, message.chat_id, message_id)
                   if sent_before else None)
        if earlier is not None:
            return [Outgoing.from_json(body) for body in earlier]
        recent = (await asyncio.to_thread(self.store.web_turns, message.chat_id, since=TRANSCRIPT_SPAN, limit=40)
                  if might_be_tap(message.text) else [])
        shown = shown_text(message.text, recent)
        if message.voice_confidence is not None:
            shown = self.wording.text(VOICE_SHOWN, message.language, text=shown)
        rasa_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{message.sender}:{message_id}").hex
        try:
            replies = await self._ask(message, rasa_id, since=since, busy=False)
        except RasaUnavailable:
            # Not kept: the message was not handled, and the same id sent again must reach Rasa.
            return [Outgoing(text=busy_text(message.language, self.wording))]
        # The bot's words with the resident's numbers masked too (a read-back repeats them, a summary
        # the birth date); the station's phone and the session's date stay readable.
        today = datetime.now(UTC).date()
        bot = [{"who": "bot", **reply.to_json(), "text": mask_echoes(reply.text, message.text, today)}
               for reply in replies]
        await asyncio.to_thread(self.store.add_web_turns, message.chat_id, message_id,
                                [{"who": "me", "text": shown}, *bot])
        return replies

    async def _ask(self, message: Incoming, message_id: str, *, since: float | None = None,
                   busy: bool = True) -> list[Outgoing]:
        """Rasa's replies; when Rasa does not answer, the busy reply (`busy`) or RasaUnavailable. A voice
        note is heard first; what was heard, or the gateway's preface, comes before the replies."""
        first: list[Outgoing] = []
        if message.voice:
            heard = await self.hear(message)
            if not isinstance(heard, Incoming):
                return heard
            message = heard
        tapped = answer_to(message.text)
        held: tuple[str, dict[str, Any]] | None = None
        if tapped is not None:
            confirmed = self._confirmed(message, *tapped)
            if not isinstance(confirmed, Incoming):
                return confirmed
            message = confirmed
            held = (tapped[1], _to_json(message))
        elif message.voice_confidence is not None:
            if needs_read_back(message.text, message.voice_confidence):
                return self._read_back(message)
            first.append(Outgoing(text=self.wording.text(VOICE_HEARD, message.language, text=message.text)))
        if message.preface:
            first.append(Outgoing(text=self.wording.text(message.preface, message.language)))
        referral, started = self.store.chat_referral(message.sender, message.referral_code)
        if started and referral and self.events is not None:
            self.events.report(referral, "chat_started")
        if referral != message.referral_code:
            message = replace(message, referral_code=referral)
        try:
            return first + await self.rasa.reply(message, message_id, since=since)
        except RasaUnavailable as error:
            log.warning("Rasa unavailable for a %s message: %s", message.channel, error)
            if held is not None:  # the confirmed words wait again: the next "yes" sends them
                self.store.keep_heard(held[0], message.sender, held[1])
            if not busy:
                raise
            return [Outgoing(text=busy_text(message.language, self.wording))]

    def _read_back(self, message: Incoming) -> list[Outgoing]:
        """"Did you say …?" with yes/no; the transcript waits for the answer."""
        token = secrets.token_urlsafe(12)
        self.store.keep_heard(token, message.sender, _to_json(message))
        say = self.wording.text
        return [Outgoing(text=say(VOICE_READ_BACK, message.language, text=message.text), buttons=(
            Button(say(VOICE_READ_BACK_YES, message.language), f"{YES}{token}"),
            Button(say(VOICE_READ_BACK_NO, message.language), f"{NO}{token}")))]

    def _confirmed(self, tap: Incoming, yes: bool, token: str) -> Incoming | list[Outgoing]:
        """The transcript the resident confirmed, or what to say to a "no" or a late or foreign tap."""
        kept = self.store.take_heard(token, tap.sender, READ_BACK_WITHIN)
        if kept is None:
            return [Outgoing(text=self.wording.text(VOICE_READ_BACK_EXPIRED, tap.language))]
        if not yes:
            return [Outgoing(text=self.wording.text(VOICE_SAY_AGAIN, tap.language))]
        # The tap's own chat details (the web chat's address) sign the message now sent.
        return replace(_from_json(kept), address=tap.address)

    def receive(self, key: str, message: Incoming) -> bool:
        """Accept a platform update for handling in the background; False for a redelivery."""
        if not self.store.accept(key, message.sender, _to_json(message)):
            return False
        self._spawn(self._handle(message.sender))
        return True

    def resume(self) -> int:
        """Handle what was accepted but not handled before a restart (any process's), chat by chat."""
        return self.sweep(timedelta(0))

    def sweep(self, older_than: timedelta = ORPHAN_AFTER) -> int:
        """Take on chats whose updates have waited longer than `older_than`; a chat another process is
        handling right now is left to it."""
        chats = self.store.waiting_chats(older_than)
        for chat in chats:
            self._spawn(self._handle(chat, wait=False))
        return len(chats)

    async def run_sweeper(self, stop: asyncio.Event, every_s: float = 10.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            if not stop.is_set():
                try:
                    self.sweep()
                    # Web transcripts end with their conversation, unconfirmed voice notes with their
                    # read-back's time, not at the next restart.
                    self.store.forget_web_turns(TRANSCRIPT_SPAN)
                    self.store.forget_heard(READ_BACK_WITHIN)
                except Exception:  # noqa: BLE001 - a database hiccup: the next round tries again
                    log.exception("inbox sweep failed")

    async def drain(self) -> None:
        """Wait for background handling (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _handle(self, chat: str, *, wait: bool = True) -> None:
        """In the chat's turn, handle its unhandled updates oldest first (one task may do several, the
        tasks after it then find nothing left)."""
        async with self.coordination.lock(f"chat:{chat}", wait=wait) as mine:
            while mine and (item := self.store.next_pending(chat)) is not None:
                key, body = item
                message = _from_json(body)
                # The same id on every attempt, in any process: Rasa answers a repeat from its record.
                replies = await self._ask(message, uuid.uuid5(uuid.NAMESPACE_URL, key).hex)
                deliver = self.deliver.get(message.channel)
                if deliver is not None:
                    await deliver(message, replies)
                self.store.finish(key)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _to_json(message: Incoming) -> dict[str, Any]:
    # Kept in the inbox's encrypted body (the client address is personal data, like the text), so
    # whichever process handles the message later signs the address it came from.
    return {"channel": message.channel, "chat_id": message.chat_id, "text": message.text,
            "referral_code": message.referral_code, "language": message.language, "address": message.address,
            "voice": message.voice, "preface": message.preface, "voice_confidence": message.voice_confidence}


def _from_json(data: dict[str, Any]) -> Incoming:
    # Bodies stored before the address was kept have none.
    return Incoming(channel=data["channel"], chat_id=data["chat_id"], text=data["text"],
                    referral_code=data.get("referral_code"), language=data.get("language"),
                    address=str(data.get("address") or ""), voice=str(data.get("voice") or ""),
                    preface=str(data.get("preface") or ""),
                    voice_confidence=float(data["voice_confidence"]) if data.get("voice_confidence") is not None
                    else None)
