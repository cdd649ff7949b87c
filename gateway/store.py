"""The gateway's own state: inbox (de-duplication and in-order processing), outbox (sends with
retries), the web chat's open conversations, long button payloads, referral clicks and channel tokens.
SQLite by default.

Message bodies are encrypted (what residents type holds CCCD numbers and birth dates; replies repeat
them) and kept only until handled or sent, then deleted: the gateway is not an archive. The web chat's
transcript lives as long as the conversation (a reload must not lose a half-filled form), with the
resident's numbers masked, and is deleted after the same silence that ends the conversation in Rasa.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import MultiFernet
from sqlalchemy import DateTime, String, Text, create_engine, delete, event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

# Inbox keys are remembered this long after handling, to drop late redeliveries.
DEDUP_DAYS = 3
# A referral counts for bookings made this long after the link was followed.
REFERRAL_DAYS = 30
# A chat's referral code is read once per this many seconds per gateway, not at each of its messages
# (issue 21). A code written by another gateway meanwhile (the resident opened a second link) reaches
# this one's messages that much later; the code of the message that carries it is always its own.
REFERRAL_CACHE_S = 30.0
REFERRAL_CACHE_SIZE = 20_000


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class InboxItem(Base):
    """One update from a platform. The key (e.g. `telegram:update:123`, `zalo:msg:abc`) makes a
    redelivery a no-op; `body` is cleared once handled."""

    __tablename__ = "inbox"

    seq: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    chat: Mapped[str] = mapped_column(String(120), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    done: Mapped[bool] = mapped_column(default=False, index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class OutboxItem(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(120), index=True)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)
    failed: Mapped[bool] = mapped_column(default=False, index=True)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ButtonPayload(Base):
    """Telegram callback data is limited to 64 bytes: longer button payloads are kept here."""

    __tablename__ = "button_payloads"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class ReferralClick(Base):
    __tablename__ = "referral_clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class ChatReferral(Base):
    """The referral code a chat started with: sent to Rasa with each of its messages, so the booking
    made later in the conversation is credited to the cadre who shared the link."""

    __tablename__ = "chat_referrals"

    chat: Mapped[str] = mapped_column(String(120), primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class WebTurn(Base):
    """One message of a web chat, for the page to show again after a reload or a dropped connection.
    `chat` is a hash of the browser's session id (the id is what lets a page read its chat: kept out
    of the database like a password); `message_id` is the page's id of a resident message, so a message
    sent again after a lost response is answered from here instead of twice."""

    __tablename__ = "web_turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(64), default="")
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class ChannelToken(Base):
    """A platform's access/refresh token pair (Zalo rotates the refresh token on every use), encrypted."""

    __tablename__ = "channel_tokens"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value_enc: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class HeardVoice(Base):
    """A voice note's transcript waiting for the resident to confirm it ("Có phải bác nói …?") before
    the assistant acts on it; taken once, by its own chat, within minutes, then deleted."""

    __tablename__ = "heard_voice"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    chat: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class NotificationKey(Base):
    """A notification the API handed over (a reminder, an announcement): handed over twice, sent once."""

    __tablename__ = "notification_keys"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)


class Store:
    def __init__(self, url: str, cipher: MultiFernet) -> None:
        self.cipher = cipher
        self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False}
                                            if url.startswith("sqlite") else {})
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        _create_tables(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # A read that is one statement needs no transaction of its own: no BEGIN and COMMIT round trips.
        self.statements: Engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # chat → (its referral code or None, until when it may be used without reading the row)
        self._referrals: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    # --- inbox ---
    def accept(self, key: str, chat: str, body: dict[str, Any]) -> bool:
        """Store an update once. False when the key was seen before (a redelivery)."""
        try:
            with self.session() as session:
                session.add(InboxItem(key=key, chat=chat, body=self._seal(body)))
        except IntegrityError:
            return False
        return True

    def next_pending(self, chat: str) -> tuple[str, dict[str, Any]] | None:
        """(key, body) of the chat's earliest update not yet handled, whichever process accepted it."""
        with self.session() as session:
            item = session.scalar(select(InboxItem).where(InboxItem.chat == chat, InboxItem.done.is_(False))
                                  .order_by(InboxItem.seq).limit(1))
            return (item.key, self.open(item.body)) if item is not None else None

    def waiting_chats(self, older_than: timedelta = timedelta(0)) -> list[str]:
        """Chats with updates accepted before `older_than` ago and still not handled (their process
        stopped, or this one restarted), oldest first."""
        cutoff = now() - older_than
        with self.session() as session:
            rows = session.execute(select(InboxItem.chat, func.min(InboxItem.seq)).where(
                InboxItem.done.is_(False), InboxItem.received_at <= cutoff)
                .group_by(InboxItem.chat).order_by(func.min(InboxItem.seq)))
            return [chat for chat, _first in rows]

    def finish(self, key: str) -> None:
        with self.session() as session:
            item = session.scalar(select(InboxItem).where(InboxItem.key == key))
            if item is not None:
                item.done, item.body = True, ""

    # --- outbox ---
    def enqueue(self, channel: str, chat_id: str, bodies: list[dict[str, Any]]) -> None:
        with self.session() as session:
            session.add_all(OutboxItem(channel=channel, chat_id=chat_id, body=self._seal(b)) for b in bodies)

    def due(self, limit: int = 200) -> list[OutboxItem]:
        """Pending sends in order; a chat whose earliest send waits for a retry holds back its later ones."""
        with self.session() as session:
            items = list(session.scalars(select(OutboxItem).where(OutboxItem.failed.is_(False))
                                         .order_by(OutboxItem.id).limit(limit)))
        moment, blocked, ready = now(), set(), []
        for item in items:
            key = (item.channel, item.chat_id)
            if key in blocked:
                continue
            blocked.add(key)  # only the earliest pending item of a chat may go
            if _aware(item.next_attempt_at) <= moment:
                ready.append(item)
        return ready

    def pending(self) -> bool:
        """Whether any send is waiting, due or not (a chat's pacing, a retry's backoff)."""
        with self.session() as session:
            return session.scalar(select(OutboxItem.id).where(OutboxItem.failed.is_(False)).limit(1)) is not None

    def _seal(self, body: dict[str, Any]) -> str:
        return self.cipher.encrypt(json.dumps(body, ensure_ascii=False).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        return dict(json.loads(self.cipher.decrypt(sealed.encode())))

    def still_due(self, item_id: int) -> OutboxItem | None:
        """The send as it is now, if it is still due: since `due()` listed it another process may have
        sent it, or tried and put it off."""
        with self.session() as session:
            item = session.get(OutboxItem, item_id)
            if item is None or item.failed or _aware(item.next_attempt_at) > now():
                return None
            return item

    def sent(self, item_id: int) -> None:
        with self.session() as session:
            session.execute(delete(OutboxItem).where(OutboxItem.id == item_id))

    def retry(self, item_id: int, *, after: timedelta, error: str, max_attempts: int) -> None:
        with self.session() as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                return
            item.attempts += 1
            item.last_error = error[:300]
            item.next_attempt_at = now() + after
            item.failed = item.attempts >= max_attempts

    def give_up(self, item_id: int, error: str) -> None:
        with self.session() as session:
            item = session.get(OutboxItem, item_id)
            if item is not None:
                item.failed, item.last_error = True, error[:300]

    def forget_old(self) -> None:
        cutoff = now() - timedelta(days=DEDUP_DAYS)
        with self.session() as session:
            session.execute(delete(InboxItem).where(InboxItem.done.is_(True), InboxItem.received_at < cutoff))
            session.execute(delete(OutboxItem).where(OutboxItem.failed.is_(True), OutboxItem.created_at < cutoff))
            session.execute(delete(ButtonPayload).where(ButtonPayload.created_at < cutoff))
            session.execute(delete(ChatReferral).where(ChatReferral.at < now() - timedelta(days=REFERRAL_DAYS)))
            session.execute(delete(NotificationKey).where(NotificationKey.at < cutoff))
            session.execute(delete(HeardVoice).where(HeardVoice.at < now() - timedelta(hours=1)))

    def depths(self) -> dict[str, int]:
        """Queue depths for the metrics: updates not yet handled, sends waiting, sends given up."""
        with self.session() as session:
            return {
                "inbox_pending": int(session.scalar(select(func.count(InboxItem.seq)).where(
                    InboxItem.done.is_(False))) or 0),
                "outbox_pending": int(session.scalar(select(func.count(OutboxItem.id)).where(
                    OutboxItem.failed.is_(False))) or 0),
                "outbox_failed": int(session.scalar(select(func.count(OutboxItem.id)).where(
                    OutboxItem.failed.is_(True))) or 0),
            }

    # --- notifications from the API ---
    def first_notification(self, key: str) -> bool:
        """True the first time a notification key is seen."""
        try:
            with self.session() as session:
                session.add(NotificationKey(key=key))
        except IntegrityError:
            return False
        return True

    def notification_seen(self, key: str) -> bool:
        with self.session() as session:
            return session.get(NotificationKey, key) is not None

    def forget_notification(self, key: str) -> None:
        """A notification that could not be sent now and will be handed over again (ZNS, SMS)."""
        with self.session() as session:
            session.execute(delete(NotificationKey).where(NotificationKey.key == key))

    def last_inbound(self, chat: str) -> datetime | None:
        """When this chat last wrote to us (platforms limit what may be sent after a silence)."""
        with self.session() as session:
            latest = session.scalar(select(func.max(InboxItem.received_at)).where(InboxItem.chat == chat))
        if latest is not None and latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        return latest

    # --- voice notes waiting for their read-back ---
    def keep_heard(self, token: str, chat: str, body: dict[str, Any]) -> None:
        """One transcript waits per chat: a newer read-back replaces the older (Zalo maps a button's
        title back to the last payload sent under it, so an older "yes" could confirm the newer one)."""
        with self.session() as session:
            session.execute(delete(HeardVoice).where(HeardVoice.chat == chat))
            session.add(HeardVoice(token=token, chat=chat, body=self._seal(body)))

    def forget_heard(self, older_than: timedelta) -> None:
        with self.session() as session:
            session.execute(delete(HeardVoice).where(HeardVoice.at < now() - older_than))

    def take_heard(self, token: str, chat: str, within: timedelta) -> dict[str, Any] | None:
        """The transcript kept under `token` for `chat` (deleted now), or None: unknown, another chat's,
        or older than `within`."""
        with self.session() as session:
            row = session.get(HeardVoice, token)
            if row is None or row.chat != chat:
                return None
            session.delete(row)
            return self.open(row.body) if _aware(row.at) >= now() - within else None

    # --- the web chat's transcript ---
    # What a web message of a page-made chat costs here: whether it was answered already, and its turns
    # added; without the ORM's unit of work (bench/scale.py: the transcript took more than half of the
    # gateway's CPU).
    def web_turns(self, session_id: str, *, since: timedelta, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """(message id, body) of the chat's last `limit` messages written within `since`, oldest first."""
        with self.statements.connect() as connection:
            rows = connection.execute(select(WebTurn.message_id, WebTurn.body)
                                      .where(WebTurn.chat == _web_chat(session_id), WebTurn.at >= now() - since)
                                      .order_by(WebTurn.id.desc()).limit(limit)).all()
        return [(message_id, self.open(body)) for message_id, body in reversed(rows)]

    def answered(self, session_id: str, message_id: str) -> list[dict[str, Any]] | None:
        """The replies already given to the page's message `message_id` (sent again after its response
        was lost), or None when it has not been answered."""
        chat = _web_chat(session_id)
        asked = (select(func.min(WebTurn.id)).where(WebTurn.chat == chat, WebTurn.message_id == message_id)
                 .scalar_subquery())
        with self.statements.connect() as connection:  # the message and what follows it
            rows = connection.execute(select(WebTurn.body).where(WebTurn.chat == chat, WebTurn.id >= asked)
                                      .order_by(WebTurn.id).limit(51)).scalars().all()
        if not rows:
            return None
        replies = []
        for sealed in rows[1:]:  # its answer follows it, up to the resident's next message
            body = self.open(sealed)
            if body.get("who") != "bot":
                break
            replies.append(body)
        return replies

    def add_web_turns(self, session_id: str, message_id: str, bodies: list[dict[str, Any]]) -> None:
        """A resident message (the first body) and the replies to it, in one transaction."""
        chat, at = _web_chat(session_id), now()
        # The rows as parameters of one compiled statement: a statement of several VALUES is compiled
        # again each time (≈ 1.5 ms of CPU against ≈ 1.0).
        with self.engine.begin() as connection:
            connection.execute(insert(WebTurn), [
                {"chat": chat, "message_id": message_id if i == 0 else "", "body": self._seal(body), "at": at}
                for i, body in enumerate(bodies)])

    def forget_web_turns(self, older_than: timedelta) -> int:
        """Transcripts of conversations silent for `older_than` (Rasa has ended them): deleted."""
        cutoff = now() - older_than
        with self.session() as session:
            live = select(WebTurn.chat).where(WebTurn.at >= cutoff).distinct()
            result = session.execute(delete(WebTurn).where(WebTurn.at < cutoff, WebTurn.chat.not_in(live)))
            return int(getattr(result, "rowcount", 0) or 0)

    # --- button payloads, referrals, tokens ---
    def short_payload(self, token: str, payload: str) -> None:
        with self.session() as session:
            session.merge(ButtonPayload(token=token, payload=payload))

    def long_payload(self, token: str) -> str | None:
        with self.session() as session:
            row = session.get(ButtonPayload, token)
            return row.payload if row else None

    def referral_click(self, code: str) -> None:
        with self.session() as session:
            session.add(ReferralClick(code=code))

    def referral_clicks(self, code: str) -> int:
        with self.session() as session:
            return len(session.scalars(select(ReferralClick.id).where(ReferralClick.code == code)).all())

    def chat_referral(self, chat: str, code: str | None) -> tuple[str | None, bool]:
        """Remember a new code for the chat, or give back the one it started with; True when the chat
        has just started from this code (the funnel's "chat started")."""
        if not code:
            known = self._referrals.get(chat)
            if known is not None and known[1] > time.monotonic():
                return known[0], False
        with self.session() as session:
            row = session.get(ChatReferral, chat)
            if code:
                started = row is None or row.code != code
                session.merge(ChatReferral(chat=chat, code=code, at=now()))
            else:
                code, started = (row.code if row else None), False
        self._referrals[chat] = (code, time.monotonic() + REFERRAL_CACHE_S)
        self._referrals.move_to_end(chat)
        if len(self._referrals) > REFERRAL_CACHE_SIZE:
            self._referrals.popitem(last=False)
        return code, started

    def token(self, name: str) -> str | None:
        with self.session() as session:
            row = session.get(ChannelToken, name)
            return row.value_enc if row else None

    def save_token(self, name: str, value_enc: str) -> None:
        with self.session() as session:
            session.merge(ChannelToken(name=name, value_enc=value_enc, updated_at=now()))


def _web_chat(session_id: str) -> str:
    return hashlib.sha256(f"web-chat:{session_id}".encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")  # handled bodies are overwritten, not just unlinked
    cursor.close()


def _create_tables(engine: Engine) -> None:
    """The tables, once: several gateways starting together on one PostgreSQL database race to create
    them (one gets a unique-violation on the catalog); the loser finds them made and goes on."""
    for attempt in range(3):
        try:
            Base.metadata.create_all(engine)
            return
        except (IntegrityError, ProgrammingError):
            if attempt == 2:
                raise
            time.sleep(0.5)
