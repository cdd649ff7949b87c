"""The gateway's HTTP application: web chat, Telegram webhook, referral links; background workers."""

from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import re
import signal
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal

import httpx
from cryptography.fernet import MultiFernet
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field, SecretStr, ValidationError
from starlette.requests import ClientDisconnect

from api.core import logs
from api.core.clientaddr import address_bucket, real_client_address
from api.core.i18n import gettext_for
from api.core.metrics import Gauges, RequestMetrics, exposition
from common.errors import AppError
from common.heap import freeze_startup_heap
from common.keys import chat_identity_key, internal_token, master_from_environment, multi_fernet
from common.vocabulary import DEFAULT_LANGUAGE, LANGUAGES
from gateway.config import VAR_DIR, GatewaySettings, get_settings
from gateway.conversation import TRANSCRIPT_SPAN, Conversations
from gateway.coordination import coordination_from
from gateway.errors import (
    AssetNotFound,
    BadSignature,
    ChannelOff,
    Malformed,
    OutsideReplyWindow,
    SmsOff,
    TelegramOff,
    TooManyLocations,
    TooManyVoiceNotes,
    TryLater,
    UnreadableMessage,
    VoiceTooLarge,
    WrongInternalToken,
    WrongWebhookSecret,
    ZaloOff,
)
from gateway.events import EventReporter
from gateway.messages import BUSY_RESPONSE, GREETING, REFERRAL, REFERRAL_PATTERN, Button, Incoming, Outgoing
from gateway.outbox import Outbox, Sender
from gateway.phone import PhoneNoticeIn, PhoneNotices
from gateway.places import Places, coordinates
from gateway.rasa import RasaClient
from gateway.sms import JsonSmsProvider, SmsProvider
from gateway.sms import delivered_key as sms_delivered_key
from gateway.sms import stop_request as sms_stop_request
from gateway.speech import MAX_AUDIO_BYTES, SpeechEngine, engine_from
from gateway.store import Store
from gateway.telegram import TelegramChannel
from gateway.wording import Wording
from gateway.zalo import OaApiClient, ZaloChannel

log = logging.getLogger("gateway")
STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"


class NotifyMessage(BaseModel):
    text: str = Field(default="", max_length=4000)
    buttons: list[tuple[str, str]] = Field(default_factory=list, max_length=8)
    audio_url: str | None = Field(default=None, max_length=500)
    voice_url: str | None = Field(default=None, max_length=500)
    audio_language: str | None = Field(default=None, max_length=8)


class NotifyIn(BaseModel):
    """A message the API starts (a reminder, an announcement), for one chat."""

    key: str = Field(pattern=r"^[A-Za-z0-9_:\-]{1,100}$")
    channel: Literal["telegram", "zalo", "web"]
    chat_id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    messages: list[NotifyMessage] = Field(min_length=1, max_length=5)


# Zalo OA lets an OA write first ("tin tư vấn") only within 48 hours of the person's last message.
# An hour is kept in hand: a notification accepted now waits in the outbox (behind an announcement, a
# rate limit) and must still be inside the window when it goes; past it, the plan uses ZNS or SMS.
ZALO_REPLY_WINDOW = timedelta(hours=47)


# The longest message the web chat takes (the page shows what is left of it as the resident types).
MESSAGE_LIMIT = 1000
# A web chat's and a message's ids as the page may send them, and a language code.
CHAT_ID = r"^[A-Za-z0-9_\-]{8,64}$"
LANGUAGE = r"^[a-z]{2,3}$"


class ChatIn(BaseModel):
    session_id: str = Field(pattern=CHAT_ID)
    text: str = Field(min_length=1, max_length=MESSAGE_LIMIT)
    referral_code: str | None = Field(default=None, pattern=REFERRAL_PATTERN)
    language: str | None = Field(default=None, pattern=LANGUAGE)
    # The page's id of this message (random): sent again after a lost response, it is answered once.
    message_id: str | None = Field(default=None, pattern=CHAT_ID)
    # False when the page sends this message for the first time: no earlier answer is looked for (a
    # statement on the gateway's database per message). Absent (a page from before this field) or True
    # (a retry, a reload's resend): it may have been answered already.
    again: bool | None = None


# The session ids the page makes (96 random bits and more): only these have a transcript to read back,
# so nobody reads a chat by guessing a short id.
PAGE_SESSION = r"^w[0-9a-f]{24,63}$"


class VoiceIn(BaseModel):
    session_id: str = Field(pattern=CHAT_ID)
    message_id: str | None = Field(default=None, pattern=CHAT_ID)
    language: str | None = Field(default=None, pattern=LANGUAGE)


class PerMinute:
    """At most `limit` events a minute per client (an IPv4 address or an IPv6 /64: what one client
    controls), in this process: a few gateways behind nginx each count their own, which is what
    protects each one's CPU. The least recently seen clients are forgotten beyond `max_keys`, so a flood
    of addresses neither grows this without end nor locks anyone else out."""

    def __init__(self, limit: int, max_keys: int = 10_000) -> None:
        self.limit, self.max_keys = limit, max_keys
        self._seen: OrderedDict[str, list[float]] = OrderedDict()

    def allow(self, address: str) -> bool:
        key, now = address_bucket(address), time.monotonic()
        recent = [t for t in self._seen.pop(key, []) if t > now - 60]
        allowed = len(recent) < self.limit
        if allowed:
            recent.append(now)
        self._seen[key] = recent
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        return allowed


class LocationIn(BaseModel):
    session_id: str = Field(pattern=CHAT_ID)
    message_id: str | None = Field(default=None, pattern=CHAT_ID)
    language: str | None = Field(default=None, pattern=LANGUAGE)
    latitude: float
    longitude: float


# What the web chat's transcript keeps of a shared location (never the coordinates).
LOCATION_SHOWN = "web_location_sent"


class HistoryIn(BaseModel):
    session_id: str = Field(pattern=PAGE_SESSION)
    language: str | None = Field(default=None, pattern=LANGUAGE)


def log_tasks() -> None:
    """Logs the stack of every asyncio task of this process: where each request is waiting."""
    tasks = asyncio.all_tasks()
    log.warning("%d tasks running", len(tasks))
    for task in tasks:
        stack = io.StringIO()
        task.print_stack(limit=12, file=stack)
        log.warning("task %s:\n%s", task.get_name(), stack.getvalue())


def _sms_webhook(settings: GatewaySettings) -> str:
    """Where the SMS provider reports deliveries and forwards residents' replies."""
    secret = _secret(settings.sms_webhook_secret)
    return f"{settings.public_url.rstrip('/')}/webhooks/sms/{secret}" if secret else ""


def create_app(settings: GatewaySettings | None = None, *, rasa_transport: httpx.AsyncBaseTransport | None = None,
               api_transport: httpx.AsyncBaseTransport | None = None, speech: SpeechEngine | None = None,
               zalo_media_transport: httpx.AsyncBaseTransport | None = None, freeze_heap: bool = False) -> FastAPI:
    """The gateway. `speech` replaces the configured speech engine (tests: a scripted one); `freeze_heap`
    for the served process only (`create_served_app`), not for tests' apps."""
    settings = settings or get_settings()
    logs.install()  # booking codes and the SMS webhook's secret stay out of the access log
    store = Store(settings.gateway_database_url, token_fernet())
    master, _previous = master_from_environment(VAR_DIR / "secret.key")
    rasa = RasaClient(settings.rasa_url, settings.rasa_timeout_s, transport=rasa_transport,
                      identity_key=chat_identity_key(master), retry_for_s=settings.rasa_retry_s,
                      in_flight=settings.rasa_in_flight)
    redis_password = settings.redis_password.get_secret_value() if settings.redis_password else None
    coordination = coordination_from(settings.gateway_redis_url, redis_password)
    events = EventReporter(settings.api_url, transport=api_transport)
    # Everything residents read from the gateway, as staff published it (else the seeds).
    wording = Wording(settings.api_url, transport=api_transport)
    internal = internal_token(master)
    if speech is None:
        speech = engine_from(settings.speech_engine, settings.speech_url, _secret(settings.speech_key),
                             max_concurrent=settings.speech_max_concurrent, max_waiting=settings.speech_max_waiting)
    places = Places(settings.api_url, internal, transport=api_transport)
    conversations = Conversations(store, rasa, events, coordination, wording, speech, places,
                                  in_hand_per_address=settings.web_messages_in_hand_per_address)
    voice_limit = PerMinute(settings.web_voice_per_minute)
    location_limit = PerMinute(settings.web_locations_per_minute)
    senders: dict[str, Sender] = {}
    outbox = Outbox(store, senders, coordination, rate_per_s=settings.send_rate_per_s,
                    per_chat_interval_s=settings.per_chat_interval_s, max_attempts=settings.max_send_attempts)
    telegram = None
    if settings.telegram_bot_token is not None:
        secret = _secret(settings.telegram_webhook_secret) or None
        telegram = TelegramChannel(token=_secret(settings.telegram_bot_token),
                                   api_base=settings.telegram_api_base, store=store, conversations=conversations,
                                   outbox=outbox, webhook_secret=secret)
        senders["telegram"] = telegram
    zalo = None
    if settings.zalo_enabled:
        zalo_api = OaApiClient(
            app_id=settings.zalo_app_id, app_secret=_secret(settings.zalo_app_secret),
            initial_refresh_token=_secret(settings.zalo_refresh_token), store=store, fernet=store.cipher,
            api_base=settings.zalo_api_base, oauth_base=settings.zalo_oauth_base, zns_base=settings.zalo_zns_base,
            coordination=coordination)
        zalo = ZaloChannel(app_id=settings.zalo_app_id, oa_secret_key=_secret(settings.zalo_oa_secret_key),
                           api=zalo_api, store=store, conversations=conversations, outbox=outbox,
                           max_event_age_s=settings.zalo_event_max_age_s,
                           max_event_ahead_s=settings.zalo_event_max_ahead_s, media_transport=zalo_media_transport,
                           media_hosts=tuple(h.strip().lower() for h in settings.zalo_media_hosts.split(",")
                                             if h.strip()))
        senders["zalo"] = zalo
    sms: SmsProvider | None = None
    if settings.sms_enabled:
        sms = JsonSmsProvider(url=settings.sms_url, brand=settings.sms_brand, api_key=_secret(settings.sms_api_key),
                              secret_key=_secret(settings.sms_secret_key), callback_url=_sms_webhook(settings))
    phones = PhoneNotices(store, zalo=zalo_api if zalo is not None else None, sms=sms)
    sms_secret = _secret(settings.sms_webhook_secret)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        store.forget_old()
        # The seeds are read now (the busy text is wanted when everything is already slow, and a broken
        # seed file should stop the start, not a resident's reply); staff's words are asked for once
        # before serving, with a short timeout, so the first replies already use them.
        wording.text(BUSY_RESPONSE)
        await wording.refresh()
        workers = [asyncio.create_task(conversations.run_sweeper(stop)), asyncio.create_task(wording.run(stop))]
        if senders:  # the web chat answers in the response: without Telegram or Zalo nothing is ever sent
            workers.append(asyncio.create_task(outbox.run(stop)))
        if telegram is not None and settings.telegram_mode == "polling":
            workers.append(asyncio.create_task(telegram.poll(stop, coordination)))
        elif telegram is not None and settings.telegram_mode == "webhook":
            await telegram.bot.set_webhook(f"{settings.public_url.rstrip('/')}/webhooks/telegram",
                                           secret_token=telegram.webhook_secret,
                                           allowed_updates=["message", "callback_query"])
        resumed = conversations.resume()
        if resumed:
            log.info("resumed %d messages received before a restart", resumed)
        # `kill -USR1 <pid>`: what every task of this process is waiting on, in the log (a stuck chat).
        loop = asyncio.get_running_loop()
        with suppress(NotImplementedError, RuntimeError, ValueError):  # not on this platform, or not the main thread
            loop.add_signal_handler(signal.SIGUSR1, log_tasks)
        if freeze_heap:
            freeze_startup_heap()
        yield
        with suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGUSR1)
        stop.set()
        for worker in workers:
            worker.cancel()
            with suppress(asyncio.CancelledError):
                await worker
        await conversations.drain()
        await rasa.close()
        await events.close()
        await wording.close()
        await places.close()
        await coordination.close()
        if telegram is not None:
            await telegram.close()
        if zalo is not None:
            await zalo_api.close()
            await zalo.close()
        if sms is not None:
            await sms.close()
        close = getattr(speech, "close", None)
        if close is not None:
            await close()

    app = FastAPI(title="Khám sức khỏe — cổng kênh chat", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(RequestMetrics, service="gateway")
    app.state.store, app.state.conversations, app.state.outbox = store, conversations, outbox
    app.state.telegram, app.state.zalo = telegram, zalo
    app.state.wording = wording

    @app.exception_handler(AppError)
    async def refused(_request: Request, error: AppError) -> JSONResponse:
        return _refusal(error, wording)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        # The web chat's refusal, in the page's language when the body said which.
        body = error.body if isinstance(error.body, dict) else {}
        language = body.get("language") if body.get("language") in LANGUAGES else None
        return _refusal(UnreadableMessage(), wording, language)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(ask_rasa: bool = Query(True, alias="rasa")) -> JSONResponse:
        """Ready when its own database, Redis (several processes) and Rasa answer (a replica behind
        nginx is taken out of rotation otherwise). Kubernetes probes `?rasa=false`: every gateway there
        reaches one Rasa Service, so a Rasa outage would take them all out of theirs, and with them the
        channels' webhooks and the "busy, write again" reply."""
        try:
            store.depths()
        except Exception:  # noqa: BLE001 - any database failure means "not ready"
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        if not await coordination.alive():
            return JSONResponse({"status": "redis unavailable"}, status_code=503)
        if ask_rasa and not await rasa.alive():
            return JSONResponse({"status": "rasa unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        def depths() -> list[tuple[str, str, float]]:
            kept = [(f"ksk_gateway_{name}", f"gateway {name.replace('_', ' ')}", float(value))
                    for name, value in store.depths().items()]
            return [*kept, ("ksk_gateway_rasa_waiting", "messages waiting for a turn at Rasa", float(rasa.waiting)),
                    ("ksk_gateway_rasa_in_flight", "messages at Rasa now", float(rasa.at_rasa))]

        return exposition(Gauges(depths))

    # --- web chat ---
    def client_address(request: Request) -> str:
        """The web chat's address, the real one behind trusted proxies (signed with the chat for the API's
        limits, counted by the gateway's own)."""
        return real_client_address(request.client.host if request.client else None,
                                   request.headers.get("X-Forwarded-For"), settings.trusted_proxies)

    def kept_id(session_id: str, message_id: str | None) -> str | None:
        """The page's message id when this chat keeps a transcript (a page-made session id), else None."""
        return message_id if message_id is not None and PAGE_ID.match(session_id) else None

    async def replayed(session_id: str, message_id: str | None) -> dict[str, Any] | None:
        """The answer already given to a message the page sends again (its response was lost), or None.
        The store's statements run in a worker thread, as the typed messages' do (gateway/conversation.py)."""
        earlier = await asyncio.to_thread(store.answered, session_id, message_id) if message_id is not None else None
        return None if earlier is None else {"replies": [_page_reply(Outgoing.from_json(b)) for b in earlier]}

    @app.get("/chat", response_class=HTMLResponse)
    async def chat_page(lang: str = "vi") -> HTMLResponse:
        language = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        return HTMLResponse(render("chat.html", language, greeting=GREETING, limit=MESSAGE_LIMIT))

    @app.get("/chat/widget.js")
    async def chat_widget(lang: str = "vi") -> Response:
        language = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        return Response(render("widget.js", language), media_type="text/javascript; charset=utf-8")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/chat/{name}")
    async def chat_asset(name: str) -> Response:
        types = {"chat.js": "text/javascript", "chat.css": "text/css", "favicon.svg": "image/svg+xml"}
        if name not in types:
            raise AssetNotFound()
        return FileResponse(STATIC / name, media_type=f"{types[name]}; charset=utf-8")

    @app.post("/chat/messages")
    async def chat_message(body: ChatIn, request: Request) -> dict[str, Any]:
        # The session id is the browser's choice: the address it writes from is what the API can
        # count on, so it travels signed with the chat (never logged).
        replies = await conversations.answer(
            Incoming("web", body.session_id, body.text.strip(), referral_code=body.referral_code,
                     language=body.language if body.language in LANGUAGES else None, address=client_address(request)),
            message_id=kept_id(body.session_id, body.message_id), sent_before=body.again is not False)
        return {"replies": [_page_reply(r) for r in replies]}

    @app.post("/chat/voice")
    async def chat_voice(request: Request) -> dict[str, Any]:
        """A voice note from the web chat's hold-to-talk button: the recording is the body (at most
        MAX_AUDIO_BYTES, refused as soon as it is more), the chat's fields are headers (kept out of
        URLs and access logs). Heard, then answered like a typed message."""
        try:
            fields = VoiceIn(session_id=request.headers.get("X-Chat-Session", ""),
                             message_id=request.headers.get("X-Message-Id") or None,
                             language=request.headers.get("X-Chat-Language") or None)
        except ValidationError:
            raise UnreadableMessage() from None
        language = fields.language if fields.language in LANGUAGES else None
        address = client_address(request)
        if not voice_limit.allow(address or fields.session_id):
            raise TooManyVoiceNotes()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_AUDIO_BYTES:
            raise VoiceTooLarge()
        message_id = kept_id(fields.session_id, fields.message_id)
        earlier = await replayed(fields.session_id, message_id)  # sent again after a lost response: not heard twice
        if earlier is not None:
            return earlier
        audio = bytearray()
        try:
            async for chunk in request.stream():
                audio.extend(chunk)
                if len(audio) > MAX_AUDIO_BYTES:
                    raise VoiceTooLarge()
        except ClientDisconnect:
            raise UnreadableMessage() from None  # nobody is left to read the answer
        message = Incoming("web", fields.session_id, "", language=language, address=address)
        heard = await conversations.hear(message, bytes(audio))
        if not isinstance(heard, Incoming):
            return {"replies": [_page_reply(r) for r in heard]}
        replies = await conversations.answer(heard, message_id=message_id)
        return {"heard": heard.text, "replies": [_page_reply(r) for r in replies]}

    @app.post("/chat/location")
    async def chat_location(body: LocationIn, request: Request) -> dict[str, Any]:
        """The web chat's "find the nearest site": answered from the API, not through Rasa; the
        coordinates are used for this answer and kept nowhere (the transcript keeps only that a location
        was shared, and the public answer). Each asks the API with the gateway's own token, so the
        gateway counts them per client as the API would."""
        language = body.language if body.language in LANGUAGES else None
        found = coordinates(body.latitude, body.longitude)
        if found is None:
            raise UnreadableMessage()
        message_id = kept_id(body.session_id, body.message_id)
        earlier = await replayed(body.session_id, message_id)
        if earlier is not None:
            return earlier
        if not location_limit.allow(client_address(request) or body.session_id):
            raise TooManyLocations()
        message = Incoming("web", body.session_id, "", language=language)
        replies = await conversations.located(message, *found)
        if message_id is not None:
            shown = wording.text(LOCATION_SHOWN, language)
            await asyncio.to_thread(store.add_web_turns, body.session_id, message_id, [{"who": "me", "text": shown}] +
                                    [{"who": "bot", **r.to_json()} for r in replies])
        return {"replies": [_page_reply(r) for r in replies]}

    @app.post("/chat/history")
    async def chat_history(body: HistoryIn) -> dict[str, Any]:
        """The conversation so far, for a page that was reloaded or lost its connection (POST: the
        session id is the chat's key and stays out of URLs and access logs)."""
        turns = await asyncio.to_thread(store.web_turns, body.session_id, since=TRANSCRIPT_SPAN, limit=HISTORY_LIMIT)
        # A resident message carries the page's id: a page reloaded while one was on its way sends it
        # again only if it is not here.
        return {"messages": [{"who": "me", "text": turn.get("text", ""), "id": message_id}
                             if turn.get("who") == "me" else {"who": "bot", **_page_reply(Outgoing.from_json(turn))}
                             for message_id, turn in turns]}

    # --- messages the API starts: reminders, announcements ---
    @app.post("/notify")
    async def notify(body: NotifyIn, request: Request) -> JSONResponse:
        if not hmac.compare_digest(request.headers.get("X-Internal-Token", ""), internal):
            raise WrongInternalToken()
        deliver = conversations.deliver.get(body.channel)
        if deliver is None:  # the web chat only answers; a channel without credentials is off
            raise ChannelOff()
        if store.notification_seen(body.key):  # handed over before (a lost answer): not judged again
            return JSONResponse({"duplicate": True}, status_code=200)
        if body.channel == "zalo":
            last = store.last_inbound(f"zalo:{body.chat_id}")
            if last is None or datetime.now(UTC) - last > ZALO_REPLY_WINDOW:
                raise OutsideReplyWindow()
        if not store.first_notification(body.key):
            return JSONResponse({"duplicate": True}, status_code=200)
        replies = [Outgoing(text=m.text, buttons=tuple(Button(t, p) for t, p in m.buttons), audio_url=m.audio_url,
                            voice_url=m.voice_url, audio_language=m.audio_language) for m in body.messages]
        await deliver(Incoming(body.channel, body.chat_id, "", language=body.language), replies)
        return JSONResponse({"accepted": True}, status_code=202)

    @app.post("/notify/phone")
    async def notify_phone(request: Request) -> JSONResponse:
        """A reminder for a phone number (ZNS template or SMS), when the resident's chat cannot carry it.
        The token is checked before the body is read: a stranger learns nothing of its shape."""
        if not hmac.compare_digest(request.headers.get("X-Internal-Token", ""), internal):
            raise WrongInternalToken()
        try:
            body = PhoneNoticeIn.model_validate_json(await request.body())
        except ValidationError:
            raise Malformed() from None
        if not await phones.send(body):
            return JSONResponse({"duplicate": True}, status_code=200)
        return JSONResponse({"accepted": True}, status_code=202)

    # --- the SMS provider's delivery reports and residents' "TC" ---
    @app.post("/webhooks/sms/{secret}")
    async def sms_webhook(secret: str, request: Request) -> JSONResponse:
        if sms is None or not sms_secret:
            raise SmsOff()
        if not hmac.compare_digest(secret.encode(), sms_secret.encode()):
            raise WrongWebhookSecret()
        try:
            event = await request.json()
            delivered, stopping = sms_delivered_key(event), sms_stop_request(event)
        except MALFORMED:
            raise Malformed() from None
        if delivered is not None:
            events.delivered(delivered)
        # A stop is a consent withdrawn: recorded before the provider hears "ok"; otherwise it gets a 503
        # and sends the reply again (nothing kept in this process's memory alone).
        if stopping is not None and not await events.stop_phone(stopping):
            raise TryLater()
        return JSONResponse({"ok": True})

    # --- Telegram ---
    @app.post("/webhooks/telegram")
    async def telegram_webhook(request: Request) -> Response:
        if telegram is None:
            raise TelegramOff()
        if not telegram.authentic(request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            raise WrongWebhookSecret()
        try:
            await telegram.handle(await request.json())
        except MALFORMED:
            raise Malformed() from None
        return JSONResponse({"ok": True})

    # --- Zalo OA ---
    @app.post("/webhooks/zalo")
    async def zalo_webhook(request: Request) -> Response:
        if zalo is None:
            raise ZaloOff()
        raw = await request.body()
        if not zalo.authentic(request.headers.get("X-ZEvent-Signature"), raw):
            raise BadSignature()
        # Acknowledged at once (Zalo waits 2 s at most); the reply goes out through the outbox.
        try:
            await zalo.handle(json.loads(raw))
        except MALFORMED:
            raise Malformed() from None
        return JSONResponse({"ok": True})

    # --- referral links ---
    @app.get("/r/{code}", response_class=HTMLResponse)
    async def referral(code: str) -> HTMLResponse:
        if not REFERRAL.match(code):
            return HTMLResponse(render("referral.html", DEFAULT_LANGUAGE, code=None), status_code=404)
        store.referral_click(code)
        events.report(code, "opened")
        return HTMLResponse(render("referral.html", DEFAULT_LANGUAGE, code=code,
                                   telegram=settings.telegram_bot_username, zalo=settings.zalo_oa_id))

    def render(name: str, language: str, **context: Any) -> str:
        """A page or script of the web chat, its words (`text(key, **values)`) in `language` as they
        are published at this moment."""
        return templates().get_template(name).render(
            language=language, text=partial(wording.text, language=language), **context)

    return app


# A genuine webhook whose body is not the shape the platform documents (not JSON, a field of the
# wrong type): answered 400 (Malformed), never 500.
MALFORMED = (ValueError, AttributeError, TypeError)


# How many messages a reloaded page shows again (the rest of the conversation is in Rasa, not on screen).
HISTORY_LIMIT = 60
PAGE_ID = re.compile(PAGE_SESSION)


def create_served_app() -> FastAPI:
    """What `python -m gateway` runs: the gateway with its start-up heap frozen once it is up (common/heap.py)."""
    return create_app(freeze_heap=True)


def _page_reply(reply: Outgoing) -> dict[str, Any]:
    return reply.page()


def _refusal(error: AppError, wording: Wording, language: str | None = None) -> JSONResponse:
    """`{code, message}` (and `details` when there are any): a refusal residents read in the content
    store's words (its `text_key`), the others in the catalogs'."""
    key: str | None = getattr(error, "text_key", None)
    message = wording.text(key, language) if key else gettext_for(None)(error.detail_message)
    return JSONResponse({**error.body(), "message": message}, status_code=error.status_code)


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def token_fernet() -> MultiFernet:
    """Message bodies and channel tokens are encrypted with a key derived from the master secret."""
    master, previous = master_from_environment(VAR_DIR / "secret.key")
    return multi_fernet(master, previous, b"gateway-tokens")


@lru_cache
def templates() -> Environment:
    """Pages and scripts of the web chat. Their words are content keys, passed in as `text` when
    rendered (HTML escapes them: published texts are staff's, not markup)."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
