"""Rasa's conversation store, without personal data in plain text (runs in the Rasa environment).

Rasa keeps every event of a conversation: what the resident typed, what the bot said, every
slot. Stored as is, that would put CCCD numbers, phone numbers and birth dates in a database in
clear. `PrivateTrackerStore` is Rasa's SQL tracker store with one filter on the way in and out:

- what residents type is stored with every digit masked (a CCCD, phone or birth date is digits;
  the text is only history, nothing reads it back), and entity values likewise;
- what the bot says is stored with long digit runs and full dates masked (the booking summary
  repeats the birth date);
- slots holding personal answers (CCCD, phone, birth date, name) are stored encrypted with a key
  derived from the deployment's master secret, and decrypted when the conversation is read back,
  so a form can still re-use them within the conversation;
- when an action sets `conversation_erased`, every stored event of that conversation is redacted
  to its anonymous skeleton (intent and action names, for counts), texts and slot values gone;
- conversations idle longer than the retention period are deleted when the server starts and by
  `python -m bot.tracker_store purge` (run daily).

A conversation is read back as a summary of its older turns (the slots and the running form as they
stood) followed by its latest turns in full (`WINDOW_TURNS` to `WINDOW_TURNS + WINDOW_SLACK`), and
saved by appending what the message added, without counting what is stored: every message then costs
the same, however long the chat (issue 21: before, message 140 of a chat paid for all 139 before it,
several times over). Nothing the assistant reads looks further back: its rules span one turn, and the
actions look at the latest turns, the slots and the running form's first message, which the summary
keeps.

No event broker is used: a broker would receive the events before this filter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from actions.voice import note_said
from common.keys import master_from_environment, multi_fernet
from common.masking import mask_digits, mask_personal_digits

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "var" / "conversations.db"
DEFAULT_SECRET_FILE = ROOT / "var" / "secret.key"
DEFAULT_RETENTION_DAYS = 30

# Slots whose values are personal data: kept encrypted at rest.
ENCRYPTED_SLOTS = frozenset({"cccd", "phone", "birth_date", "full_name", "known_cccd", "known_birth_date",
                             "booking_verifier"})
# Rasa copies a session's first message metadata into this slot: only the harmless keys are kept
# (the gateway's signed chat identity carries the web chat's address).
SESSION_METADATA_SLOT = "session_started_metadata"
ERASE_SLOT = "conversation_erased"
_ENCRYPTED = "enc:"
# Metadata worth keeping: what the gateway sends with a message, and which response the bot used.
_USER_METADATA = frozenset({"channel", "referral_code", "language"})
_BOT_METADATA = frozenset({"utter_action"})

# The turns read back in full. Rules span one turn and the actions look at the latest two (the question
# on screen, the slots a stale tap filled); four leave room for the two-stage fallback's rewinds.
WINDOW_TURNS = 4
# The summary moves forward once this many more turns have gathered: a write every few messages, not at each.
WINDOW_SLACK = 3
# Which stored event each event of a tracker read from here is (None for the summary's): set on the
# tracker by `_retrieve`, read by `save`, so that saving appends only what is new.
STORED_IDS = "_stored_event_ids"
# Conversations whose tracker this process keeps after saving it, the most recently used: the next
# message of the chat (on this replica) skips reading and rebuilding it when nothing was stored since.
# A tracker holds a summary and a few turns (≈ 50 events, ≈ 0.1 MB).
KEPT_TRACKERS = 500
# …and for at most a conversation's lifetime (Rasa's session expiry): a kept tracker holds the latest
# turns as the server handled them (texts unmasked, slots decrypted), as every tracker does while a
# message is handled; it is not kept longer than the conversation is alive.
KEPT_FOR_S = 3600.0

# One row per conversation: the summary of everything before `first_event_id` in its current session.
_SUMMARY_METADATA = sa.MetaData()
SUMMARIES = sa.Table(
    "conversation_summaries", _SUMMARY_METADATA,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("first_event_id", sa.Integer, nullable=False),
    sa.Column("events", sa.Text, nullable=False),  # serialised events, stored through the privacy filter
)


class PrivacyFilter:
    """Turns one serialised Rasa event into its stored form and back."""

    def __init__(self, fernet: MultiFernet) -> None:
        self.fernet = fernet

    @classmethod
    def from_environment(cls) -> PrivacyFilter:
        master, previous = master_from_environment(DEFAULT_SECRET_FILE)
        return cls(multi_fernet(master, previous, b"conversation-store"))

    def protect(self, event: dict[str, Any]) -> dict[str, Any]:
        kind = event.get("event")
        if kind == "user":
            event["text"] = mask_digits(event.get("text") or "")
            parse = event.get("parse_data") or {}
            if "text" in parse:
                parse["text"] = mask_digits(parse.get("text") or "")
            for entity in parse.get("entities") or []:
                value = entity.get("value")
                entity["value"] = mask_digits(value if isinstance(value, str) else json.dumps(value))
            event["metadata"] = {k: v for k, v in (event.get("metadata") or {}).items() if k in _USER_METADATA}
        elif kind == "bot":
            event["text"] = mask_personal_digits(event.get("text") or "") if event.get("text") else event.get("text")
            # Rasa keeps a response's template variables (name, birth date…) in the event's metadata.
            event["metadata"] = {k: v for k, v in (event.get("metadata") or {}).items() if k in _BOT_METADATA}
        elif kind == "slot" and event.get("name") in ENCRYPTED_SLOTS and event.get("value") is not None:
            plain = json.dumps(event["value"], ensure_ascii=False)
            event["value"] = _ENCRYPTED + self.fernet.encrypt(plain.encode()).decode()
        elif kind == "slot" and event.get("name") == SESSION_METADATA_SLOT and isinstance(event.get("value"), dict):
            event["value"] = {k: v for k, v in event["value"].items() if k in _USER_METADATA}
        elif kind == "session_started" and isinstance(event.get("metadata"), dict):
            event["metadata"] = {k: v for k, v in event["metadata"].items() if k in _USER_METADATA}
        return event

    def reveal(self, event: dict[str, Any]) -> dict[str, Any]:
        value = event.get("value")
        if event.get("event") == "slot" and isinstance(value, str) and value.startswith(_ENCRYPTED):
            try:
                event["value"] = json.loads(self.fernet.decrypt(value[len(_ENCRYPTED):].encode()))
            except InvalidToken:
                # Encrypted under a key no longer configured: forget the answer, ask again.
                event["value"] = None
        return event

    @staticmethod
    def redact(event: dict[str, Any]) -> dict[str, Any]:
        """What is left of an event after the resident asked for their data to be erased."""
        kind = event.get("event")
        if kind == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            event["text"] = ""
            event["parse_data"] = {"intent": {"name": intent.get("name"), "confidence": intent.get("confidence")},
                                   "entities": [], "text": ""}
            event["metadata"] = {}
        elif kind == "bot":
            event["text"], event["data"], event["metadata"] = "", {}, {}
        elif kind == "slot" and event.get("name") != "requested_slot":
            event["value"] = None
        return event


try:  # the class needs Rasa; the helpers above are importable without it (tests, tools)
    from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
    from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionExecutionRejected,
        ActiveLoop,
        BotUttered,
        Event,
        SessionStarted,
        SlotSet,
        UserUttered,
    )
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.event_types import resolve_by_type
    # A conversation's events in order, found without reading the others' (Rasa indexes the sender only;
    # PostgreSQL would then visit every event of the conversation to find the latest few).
    _EVENTS_BY_SENDER = sa.Index("ix_events_sender_id_id", SQLTrackerStore.SQLEvent.__table__.c.sender_id,
                                 SQLTrackerStore.SQLEvent.__table__.c.id)
except ImportError:  # pragma: no cover - main environment
    SQLTrackerStore = object  # type: ignore[misc,assignment]


def _pooled_sqlite(engine: sa.engine.Engine) -> sa.engine.Engine:
    """The SQLite file's engine with its connections kept, in write-ahead-log mode. SQLAlchemy 1.4 (Rasa's)
    opens a new connection for every use of a file database, so a message opened two or three and each
    commit rewrote and synced a rollback journal: ≈ 2.7 ms of Rasa's CPU per message read and saved, 1.4 ms
    this way (issue 21, measured on this machine). The API's SQLite database is set up the same way
    (api/core/db.py). SQLAlchemy 2 pools file databases so by default, its connections shared across
    threads as here."""
    url = engine.url
    engine.dispose()
    pooled = sa.create_engine(url, poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False})
    sa.event.listen(pooled, "connect", _sqlite_pragmas)
    return pooled


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # A commit survives the process's crash; the machine's power loss may take its last few (not the file).
    cursor.execute("PRAGMA synchronous=NORMAL")
    # An erased or purged conversation's bytes are overwritten, not left in the file's free space.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _settle(engine: sa.engine.Engine) -> None:
    """After an erasure or a purge on SQLite: the log's earlier copies of the pages, which held what was
    erased, are written back and the log emptied (truncated), not left until new writes overwrite them.
    (While another process reads the file, SQLite leaves the log for the next checkpoint.)"""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _standalone(engine: sa.engine.Engine) -> sa.engine.Engine:
    """The engine for statements that need no transaction around them: the reads of a message (the kept
    tracker's check, the summary and the latest turns) and, on PostgreSQL, its one insert. Each statement
    sees what is committed, as inside a transaction (PostgreSQL's read committed takes a snapshot per
    statement), and no other replica writes the conversation meanwhile (Rasa's lock). On PostgreSQL
    psycopg2 otherwise sends BEGIN before a connection's first statement, then the pool a ROLLBACK, or the
    save a COMMIT: two round trips more for each use of a connection, while the replica's event loop waits
    (issue 21). A pool of its own, always in autocommit: a pooled connection switched out of autocommit and
    back had psycopg2 send a SET too (PostgreSQL's statement log). Made as Rasa makes the store's engine
    (its schema and pool sizes: Rasa's `create_engine_kwargs` reads them for a URL given as text). On SQLite
    the engine itself: its driver begins no transaction before a SELECT, and a write keeps its transaction
    (alone, each row of an insert would be one)."""
    if engine.dialect.name != "postgresql":
        return engine
    url = engine.url.render_as_string(hide_password=False)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", **create_engine_kwargs(url))


def read_events(dumps: list[dict[str, Any]]) -> list[Event]:
    """Rasa's `deserialise_events`, each type's class looked up once (bot/event_types.py: Rasa's lookup
    lists every subclass of Event for every event, ≈ 1.2 ms of Rasa's CPU per message as a tracker is read
    back). An unknown type is refused with Rasa's ValueError; a dump Rasa would skip is skipped."""
    read: list[Event] = []
    for dump in dumps:
        name = dump.get("event")
        if name is None:
            continue
        event_class = resolve_by_type(name)
        event = event_class._from_parameters(dump) if event_class is not None else None
        if event is not None:
            read.append(event)
    return read


class PrivateTrackerStore(SQLTrackerStore):
    """SQL tracker store with the privacy filter above. Configured in bot/endpoints.yml: a SQLite file
    by default, or the database `TRACKER_STORE_URL` names (`postgresql://…`, shared by every Rasa
    replica of the production profile)."""

    def __init__(self, domain: Domain | None = None, db: str | None = None, dialect: str = "sqlite",
                 retention_days: int | None = None, host: str | None = None, **kwargs: Any) -> None:
        host = host or os.environ.get("TRACKER_STORE_URL") or None
        if host and "://" in host:
            dialect = host.split(":", 1)[0].split("+", 1)[0]  # Rasa takes a whole URL given as the host
        if dialect == "sqlite" and not host:
            db = db or os.environ.get("CONVERSATION_DB") or str(DEFAULT_DB)
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(domain=domain, dialect=dialect, db=db or "rasa.db", host=host, **kwargs)
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            self.engine = _pooled_sqlite(self.engine)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        try:
            _SUMMARY_METADATA.create_all(self.engine)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            # Replicas starting together may race to create them, as Rasa's own table (see its __init__).
            if not sa.inspect(self.engine).has_table(SUMMARIES.name):
                raise
        self.filter = PrivacyFilter.from_environment()
        self.standalone = _standalone(self.engine)
        self._prepare()
        self.kept: OrderedDict[str, tuple[DialogueStateTracker, float]] = OrderedDict()
        self.retention_days = int(retention_days or os.environ.get("CONVERSATION_RETENTION_DAYS")
                                  or DEFAULT_RETENTION_DAYS)
        # Replicas of the production profile leave this to `python -m bot.tracker_store purge` (run before
        # they start, then daily): no two replicas purging at once.
        purge_here = os.environ.get("CONVERSATION_PURGE_AT_START", "1") != "0"
        if purge_here:
            self.add_index()
        self.purged_at_start = self.purge(self.retention_days) if purge_here else 0

    def add_index(self) -> None:
        """The index on (sender_id, id), on a database made before it (a new one gets it with its table).
        Built by the one process that purges — never by every replica at start: on PostgreSQL it is built
        CONCURRENTLY, so the replicas' writes go on meanwhile."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {_EVENTS_BY_SENDER.name} "
                                           "ON events (sender_id, id)"))
        else:
            _EVENTS_BY_SENDER.create(self.engine, checkfirst=True)

    def _prepare(self) -> None:
        """The statements a message needs, built once: SQLAlchemy then finds each compiled in its cache
        without working out the statement's cache key again, and they run on a plain connection rather
        than through an ORM session (issue 21: the ORM's session, statement building and cache keys were
        most of the store's ≈ 11 ms per message in `bench/profile.py`)."""
        table = self.SQLEvent.__table__
        sender = table.c.sender_id == sa.bindparam("sender_id")
        session_start = (sa.select(sa.func.max(table.c.timestamp))
                         .where(sender, table.c.type_name == SessionStarted.type_name).scalar_subquery())
        # Rasa's `_event_query`: the events from the latest session's start (all, if none started).
        self._session_events = (sa.select(table.c.id, table.c.data)
                                .where(sender, sa.or_(table.c.timestamp >= session_start, session_start.is_(None)))
                                .order_by(table.c.id))
        self._session_length = sa.select(sa.func.count()).select_from(self._session_events.subquery())
        self._events_from = (sa.select(table.c.id, table.c.data)
                             .where(sender, table.c.id >= sa.bindparam("first_id")).order_by(table.c.id))
        self._all_events = sa.select(table.c.id, table.c.data).where(sender)
        self._rewrite = table.update().where(table.c.id == sa.bindparam("row_id")).values(
            data=sa.bindparam("new_data"))
        self._latest_id = sa.select(sa.func.max(table.c.id)).where(sender)
        self._latest_ids = (sa.select(table.c.id).where(sender).order_by(table.c.id.desc())
                            .limit(sa.bindparam("how_many", type_=sa.Integer)))
        self._insert = table.insert()
        self._insert_returning = table.insert().returning(table.c.id)
        self._summary = sa.select(SUMMARIES.c.first_event_id, SUMMARIES.c.events).where(
            SUMMARIES.c.sender_id == sa.bindparam("sender_id"))
        self._forget_summary = SUMMARIES.delete().where(SUMMARIES.c.sender_id == sa.bindparam("sender_id"))
        upsert = (postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(SUMMARIES)
        self._put_summary = upsert.on_conflict_do_update(
            index_elements=[SUMMARIES.c.sender_id],
            set_={"first_event_id": upsert.excluded.first_event_id, "events": upsert.excluded.events})
        # PostgreSQL returns the ids of rows inserted in one go (psycopg2's execute_values); SQLite cannot.
        self._returns_ids = self.engine.dialect.name == "postgresql" and bool(
            getattr(self.engine.dialect, "insert_executemany_returning", False))

    async def save(self, tracker: DialogueStateTracker) -> None:
        stored_ids: list[int | None] | None = getattr(tracker, STORED_IDS, None)
        sender_id = tracker.sender_id
        if stored_ids is None or len(stored_ids) > len(tracker.events):
            # Not read from here (a conversation being created): Rasa's way, by counting.
            stored_ids = None
            with self.standalone.connect() as connection:
                stored = connection.execute(self._session_length, {"sender_id": sender_id}).scalar() or 0
            new_events = list(tracker.events)[stored:]
        else:
            new_events = list(tracker.events)[len(stored_ids):]
        erase = any(isinstance(e, SlotSet) and e.key == ERASE_SLOT and e.value is True for e in new_events)
        # The new events go in by one statement, whole by itself; the summary, when it moves, by another:
        # between the two, the old summary and every event after it still read back as the conversation.
        # An erasure's rewrites, and events too many for one statement, keep a transaction.
        alone = (self.standalone is not self.engine and not erase
                 and len(new_events) <= getattr(self.engine.dialect, "executemany_values_page_size", 0))
        with (self.standalone.connect() if alone else self.engine.begin()) as connection:
            if erase:
                rewritten = [{"row_id": row.id, "new_data": json.dumps(self.filter.redact(json.loads(row.data)))}
                             for row in connection.execute(self._all_events, {"sender_id": sender_id})]
                if rewritten:
                    connection.execute(self._rewrite, rewritten)
                connection.execute(self._forget_summary, {"sender_id": sender_id})
            rows = []
            for event in new_events:
                data = event.as_dict()
                stored_data = self.filter.redact(data) if erase else self.filter.protect(data)
                rows.append({"sender_id": sender_id, "type_name": event.type_name,
                             "timestamp": data.get("timestamp"),
                             "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
                             "action_name": data.get("name"), "data": json.dumps(stored_data)})
            new_ids: list[int | None] = []
            if rows and self._returns_ids:
                new_ids = [i for (i,) in connection.execute(self._insert_returning, rows)]
            elif rows:
                connection.execute(self._insert, rows)
                # Their ids: the conversation's latest (one replica at a time handles a conversation, under
                # Rasa's lock; SQLite has one writer at a time besides).
                new_ids = [i for (i,) in connection.execute(
                    self._latest_ids, {"sender_id": sender_id, "how_many": len(rows)})][::-1]
            moved = False
            if stored_ids is not None:
                stored_ids = stored_ids + new_ids
                moved = not erase and self._move_summary(connection, tracker, stored_ids)
        if erase:
            _settle(self.engine)
        self.kept.pop(sender_id, None)
        if stored_ids is not None:
            setattr(tracker, STORED_IDS, stored_ids)  # saved again (Rasa does): only what follows is new
            # Read afresh instead when this tracker holds what a read would leave out: turns before a moved
            # summary, or the session before the one that just started.
            if not (erase or moved or any(isinstance(e, SessionStarted) for e in new_events)):
                self.kept[sender_id] = (tracker, time.monotonic())
                while len(self.kept) > KEPT_TRACKERS:
                    self.kept.popitem(last=False)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool
                        ) -> DialogueStateTracker | None:
        if fetch_events_from_all_sessions:  # `retrieve_full_tracker`: rare (exports), Rasa's own query
            with self.session_scope() as session:
                rows = self._event_query(session, sender_id, True).with_entities(
                    self.SQLEvent.id, self.SQLEvent.data).all()
            summary = None
        else:
            kept = self._kept(sender_id)
            if kept is not None:
                return kept
            with self.standalone.connect() as connection:
                summary = connection.execute(self._summary, {"sender_id": sender_id}).first()
                if summary is not None:
                    rows = connection.execute(self._events_from, {"sender_id": sender_id,
                                                                  "first_id": summary.first_event_id}).all()
                else:
                    rows = connection.execute(self._session_events, {"sender_id": sender_id}).all()
        if not self.domain or not rows:
            return None
        head = [self.filter.reveal(event) for event in json.loads(summary.events)] if summary is not None else []
        events = [self.filter.reveal(json.loads(row.data)) for row in rows]
        ids: list[int | None] = [row.id for row in rows]
        if not fetch_events_from_all_sessions:
            # A session that started within the window: nothing of the one before it is read back.
            start = max((i for i, e in enumerate(events) if e.get("event") == SessionStarted.type_name), default=None)
            if start is not None:
                if start > 0 and events[start - 1].get("name") == ACTION_SESSION_START_NAME:
                    start -= 1
                head, events, ids = [], events[start:], ids[start:]
        tracker = DialogueStateTracker.from_events(sender_id, read_events(head + events), self.domain.slots)
        setattr(tracker, STORED_IDS, [None] * len(head) + ids)
        return tracker

    def _kept(self, sender_id: str) -> DialogueStateTracker | None:
        """The tracker this process saved last for the conversation, if it is still the conversation as
        stored: every event of it saved (a message whose handling failed leaves unsaved ones), and nothing
        stored since (another replica may have handled the chat's later messages)."""
        tracker, kept_at = self.kept.pop(sender_id, (None, 0.0))
        if tracker is None or time.monotonic() - kept_at > KEPT_FOR_S:
            return None
        stored_ids: list[int | None] = getattr(tracker, STORED_IDS, [])
        if len(stored_ids) != len(tracker.events) or not stored_ids or stored_ids[-1] is None:
            return None
        # Its last event must still be the conversation's last: not if another replica stored more, nor if
        # the conversation was purged or erased elsewhere (an erasure stores events too).
        with self.standalone.connect() as connection:
            latest = connection.execute(self._latest_id, {"sender_id": sender_id}).scalar()
        if latest != stored_ids[-1]:
            return None
        self.kept[sender_id] = (tracker, kept_at)
        return tracker

    def _move_summary(self, connection: Any, tracker: DialogueStateTracker, stored_ids: list[int | None]) -> bool:
        """Once more than WINDOW_TURNS + WINDOW_SLACK turns follow the summary, a new summary of all
        but the latest WINDOW_TURNS turns. Whether it moved."""
        events = list(tracker.events)
        first = next((i for i, event_id in enumerate(stored_ids) if event_id is not None), len(events))
        turns = [i for i in range(first, len(events)) if isinstance(events[i], UserUttered)]
        if len(turns) <= WINDOW_TURNS + WINDOW_SLACK:
            return False
        cut = turns[-WINDOW_TURNS]
        listened = events[cut - 1]
        if cut > first and isinstance(listened, ActionExecuted) and listened.action_name == ACTION_LISTEN_NAME:
            cut -= 1  # the turn starts with the bot listening
        before = DialogueStateTracker.from_events(tracker.sender_id, events[:cut], self.domain.slots)
        summary = json.dumps([self.filter.protect(event.as_dict()) for event in summarise(before, events[:cut])])
        connection.execute(self._put_summary, {"sender_id": tracker.sender_id, "first_event_id": stored_ids[cut],
                                               "events": summary})
        return True

    def close(self) -> None:
        """Closes the store's connections (both pools): a database dropped afterwards is not in use."""
        if self.standalone is not self.engine:
            self.standalone.dispose()
        self.engine.dispose()

    def purge(self, older_than_days: int) -> int:
        """Delete conversations whose last event is older than the retention period."""
        import sqlalchemy as sa

        cutoff = time.time() - older_than_days * 86400
        with self.session_scope() as session:
            idle = (session.query(self.SQLEvent.sender_id).group_by(self.SQLEvent.sender_id)
                    .having(sa.func.max(self.SQLEvent.timestamp) < cutoff))
            senders = [sender for (sender,) in idle]
            for chunk in _chunks(senders, 500):
                session.query(self.SQLEvent).filter(self.SQLEvent.sender_id.in_(chunk)).delete(
                    synchronize_session=False)
                session.execute(SUMMARIES.delete().where(SUMMARIES.c.sender_id.in_(chunk)))
            session.commit()
        if senders:
            _settle(self.engine)
        for sender in senders:
            self.kept.pop(sender, None)
        return len(senders)


def summarise(before: DialogueStateTracker, events: list[Event]) -> list[Event]:
    """Events that rebuild `before`'s state (the tracker over `events`): its slots that are set, the
    message that told the resident their audio is Vietnamese (said once a conversation, actions/voice.py),
    and its running form with the resident's message that opened it (a question's tag is derived from that
    message, actions/questions.py)."""
    summary: list[Event] = [SlotSet(name, slot.value) for name, slot in before.slots.items()
                            if slot.value != slot.initial_value]
    session = max((i for i, e in enumerate(events) if isinstance(e, SessionStarted)), default=0)
    summary += [e for e in events[session:] if isinstance(e, BotUttered) and note_said([e.data])][-1:]
    form = before.active_loop_name
    if form:
        opened = max((i for i, e in enumerate(events) if isinstance(e, ActiveLoop) and e.name == form), default=None)
        trigger = next((e for e in reversed(events[:opened or 0]) if isinstance(e, UserUttered)), None)
        summary += [trigger] if trigger is not None else []
        summary.append(events[opened] if opened is not None else ActiveLoop(form))
        if before.is_active_loop_rejected:
            summary.append(ActionExecutionRejected(form))
    return summary


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.tracker_store",
        description="Tạo bảng và chỉ mục (nếu chưa có) và xóa các cuộc trò chuyện quá hạn lưu trữ.")
    parser.add_argument("command", choices=["purge"])
    parser.add_argument("--days", type=int, default=None, help=f"mặc định {DEFAULT_RETENTION_DAYS}")
    args = parser.parse_args(argv)
    os.environ["CONVERSATION_PURGE_AT_START"] = "0"
    store = PrivateTrackerStore(domain=Domain.empty(), retention_days=args.days)
    store.add_index()  # run before the replicas start, then daily: the index exists before they need it
    purged = store.purge(store.retention_days)
    print(f"Đã xóa {purged} cuộc trò chuyện không hoạt động quá {store.retention_days} ngày.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
