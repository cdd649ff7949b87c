"""The conversation store reads back a summary and the latest turns: what a message costs it does not
grow with the conversation (issue 21), and what the assistant reads back is the state as it stands."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.shared.core import events as rasa_events
from rasa.shared.core.events import (
    ActionExecuted,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from actions.voice import bot_data_of_session, note_said
from bot import tracker_store
from bot.tracker_store import WINDOW_SLACK, WINDOW_TURNS, PrivateTrackerStore, read_events
from tests_rasa.stored_events import CCCD, every_kind, text, turn


@contextmanager
def statements(store: PrivateTrackerStore, alone: list[bool] | None = None) -> Iterator[list[str]]:
    """The SQL the store sends meanwhile, with its parameters left out; in `alone`, for each statement on
    PostgreSQL, whether its connection was in autocommit (psycopg2 sends it with no BEGIN before it)."""
    seen: list[str] = []

    def note(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        # One statement inserts a message's events: its VALUES list is as long as they are many.
        seen.append(re.sub(r"VALUES \(.*\)", "VALUES (…)", re.sub(r"\s+", " ", statement)))
        if alone is not None:
            alone.append(bool(cursor.connection.autocommit))

    engines = {store.engine, store.standalone}
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", note)


def chat(store: PrivateTrackerStore, sender: str, messages: int, start: float
         ) -> tuple[list[Event], dict[int, tuple[int, list[str]]]]:
    """Plays `messages` turns through the store as the Rasa server does (read, add the turn, save).
    Returns every event played, and per message the events read back and the SQL sent."""
    played: list[Event] = [ActionExecuted("action_session_start", timestamp=start), SessionStarted(timestamp=start),
                           ActionExecuted("action_listen", timestamp=start)]
    tracker = DialogueStateTracker.from_events(sender, played, store.domain.slots)
    asyncio.run(store.save(tracker))
    work: dict[int, tuple[int, list[str]]] = {}
    for number in range(1, messages + 1):
        with statements(store) as sql:
            tracker = asyncio.run(store.retrieve(sender))
            assert tracker is not None
            read = len(tracker.events)
            new = turn(number, start + number)
            for event in new:
                tracker.update(event)
            asyncio.run(store.save(tracker))
        played += new
        work[number] = (read, sql)
    return played, work


def test_events_are_read_back_as_rasa_reads_them_each_type_looked_up_once(
        store: PrivateTrackerStore, request: pytest.FixtureRequest) -> None:
    every_type = every_kind()
    # Every kind Rasa stores (rasa.core.test adds kinds of its own when imported: not stored ones).
    assert {type(event) for event in every_type} == {
        kind for kind in all_subclasses(Event) if kind.__module__ == rasa_events.__name__}
    dumps = [event.as_dict() for event in every_type]
    dumps += [{"no": "event"}, {"event": "topic", "topic": "old"}]
    rasas = rasa_events.deserialise_events(dumps)
    looked_up: list[str] = request.getfixturevalue("asked_of_rasa")  # (counted from here, from an empty cache)
    read = read_events(dumps)
    assert read == rasas and [e.as_dict() for e in read] == [e.as_dict() for e in rasas]
    assert len(read) == len(every_type)
    # Each type's class was looked up once, not once per event; a second tracker looks none up (but the
    # old "topic", which Rasa reads as nothing: bot/event_types.py asks Rasa again what it did not find).
    assert sorted(looked_up) == sorted(set(looked_up)) and len(looked_up) < len(dumps) - 5
    looked_up.clear()
    assert read_events(dumps) == read and looked_up == ["topic"]
    with pytest.raises(ValueError, match="Unknown event name"):
        read_events([{"event": "no_such_event"}])
    # And through the store: a conversation read back is the conversation as played.
    played, _ = chat(store, "every-type", 3, time.time() - 3000)
    back = asyncio.run(store.retrieve("every-type"))
    assert back is not None and list(back.events) == played


def test_the_work_of_a_message_does_not_grow_with_the_conversation(store: PrivateTrackerStore) -> None:
    _, work = chat(store, "long-chat", 200, time.time() - 3000)
    read = {number: events for number, (events, _) in work.items()}
    # Events read back: grows over the first turns, then goes up and down within the window (the summary
    # moves every WINDOW_SLACK + 1 messages) however long the chat: the same at 101-200 as at 41-100.
    assert max(read[n] for n in range(101, 201)) == max(read[n] for n in range(41, 101))
    assert min(read[n] for n in range(101, 201)) == min(read[n] for n in range(41, 101))
    assert max(read.values()) <= 6 * (WINDOW_TURNS + WINDOW_SLACK)  # a turn here is five or six events
    # The same statements at message 20 and message 200 (whether the summary moved or not): no count of
    # what is stored, no query over the whole conversation.
    shapes = {number: set(sql) for number, (_, sql) in work.items()}
    assert set().union(*(shapes[n] for n in range(150, 161))) == set().union(*(shapes[n] for n in range(20, 31)))
    assert not any("count(" in statement.lower() for statement in set().union(*shapes.values()))
    # Every message's events are stored once, in order.
    with store.engine.connect() as db:
        users = [json.loads(d)["text"] for (d,) in db.execute(sa.text(
            "SELECT data FROM events WHERE sender_id = 'long-chat' AND type_name = 'user' ORDER BY id"))]
    assert users == [text(n) for n in range(1, 201)]


def test_a_long_conversation_reads_back_as_it_stands(store: PrivateTrackerStore) -> None:
    played, _ = chat(store, "form-chat", 120, time.time() - 3000)
    whole = DialogueStateTracker.from_events("form-chat", played, store.domain.slots)
    back = asyncio.run(store.retrieve("form-chat"))
    assert back is not None
    assert back.current_slot_values() == whole.current_slot_values()
    assert back.get_slot("cccd") == CCCD and back.get_slot("full_name") == "Nông Thị Mai"  # decrypted
    assert back.active_loop_name == "booking_form"
    assert back.latest_message.text == text(120) and back.latest_action_name == "action_answer_faq"
    # The form's first message is kept with its time: a question's tag is derived from it.
    opened = [e for e in back.events if isinstance(e, UserUttered) and e.text == text(30)]
    assert [e.timestamp for e in opened] == [next(e.timestamp for e in played
                                                  if isinstance(e, UserUttered) and e.text == text(30))]
    assert back.active_loop is not None and back.active_loop.trigger_message is not None
    assert back.active_loop.trigger_message["text"] == text(30)
    # So is the note said once a conversation (it is not said again), and the latest turns in full.
    assert note_said(bot_data_of_session(e.as_dict() for e in back.events))
    assert [e.text for e in back.events if isinstance(e, UserUttered)][-WINDOW_TURNS:] == [
        text(n) for n in range(121 - WINDOW_TURNS, 121)]
    # The summary holds personal answers encrypted, as the events do.
    with store.engine.connect() as db:
        summary = db.execute(sa.text("SELECT events FROM conversation_summaries")).scalar_one()
    assert CCCD not in summary and "Nông Thị Mai" not in summary and "enc:" in summary


def test_a_new_session_reads_back_nothing_of_the_one_before(store: PrivateTrackerStore) -> None:
    played, _ = chat(store, "two-sessions", 40, time.time() - 9000)
    tracker = asyncio.run(store.retrieve("two-sessions"))
    assert tracker is not None
    now = time.time()
    for event in (ActionExecuted("action_session_start", timestamp=now), SessionStarted(timestamp=now),
                  ActionExecuted("action_listen", timestamp=now),
                  UserUttered("xin chao", intent={"name": "greet", "confidence": 1.0}, timestamp=now + 1)):
        tracker.update(event)
    asyncio.run(store.save(tracker))
    back = asyncio.run(store.retrieve("two-sessions"))
    assert back is not None
    assert [e.text for e in back.events if isinstance(e, UserUttered)] == ["xin chao"]
    assert back.get_slot("cccd") is None and back.active_loop_name is None
    # The whole history is still there for staff tools (Rasa's "all sessions").
    whole = asyncio.run(store.retrieve_full_tracker("two-sessions"))
    assert whole is not None and sum(isinstance(e, UserUttered) for e in whole.events) == 41


def test_erasure_and_purge_take_the_summary_too(store: PrivateTrackerStore) -> None:
    chat(store, "erased", 30, time.time() - 3000)
    chat(store, "idle", 30, time.time() - 3000)
    tracker = asyncio.run(store.retrieve("erased"))
    assert tracker is not None
    tracker.update(SlotSet("conversation_erased", True))
    asyncio.run(store.save(tracker))
    with store.engine.begin() as db:
        assert [s for (s,) in db.execute(sa.text("SELECT sender_id FROM conversation_summaries"))] == ["idle"]
        db.execute(sa.text("UPDATE events SET timestamp = :t WHERE sender_id = 'idle'"),
                   {"t": time.time() - 40 * 86400})
    back = asyncio.run(store.retrieve("erased"))
    assert back is not None and back.get_slot("cccd") is None and back.get_slot("full_name") is None
    assert store.purge(30) == 1
    with store.engine.connect() as db:
        assert db.execute(sa.text("SELECT count(*) FROM conversation_summaries")).scalar_one() == 0


def test_the_tracker_kept_after_saving_is_used_only_while_it_is_the_conversation_as_stored(
        store: PrivateTrackerStore) -> None:
    chat(store, "kept", 5, time.time() - 3000)
    first = asyncio.run(store.retrieve("kept"))
    with statements(store) as sql:
        again = asyncio.run(store.retrieve("kept"))
    assert again is first and len(sql) == 1  # one look for anything stored since, nothing rebuilt
    # A message whose handling failed before it was saved: its events are not the conversation.
    assert again is not None
    for event in turn(6, time.time()):
        again.update(event)
    afresh = asyncio.run(store.retrieve("kept"))
    assert afresh is not again and afresh is not None
    assert [e.text for e in afresh.events if isinstance(e, UserUttered)][-1] == text(5)
    # Another replica (another store on the same database) handles the next message: read afresh here.
    other = PrivateTrackerStore(domain=store.domain, dialect=store.engine.dialect.name,
                                host=str(store.engine.url), db=store.engine.url.database or "")
    elsewhere = asyncio.run(other.retrieve("kept"))
    assert elsewhere is not None
    for event in turn(6, time.time()):
        elsewhere.update(event)
    asyncio.run(other.save(elsewhere))
    other.close()
    here = asyncio.run(store.retrieve("kept"))
    assert here is not None and [e.text for e in here.events if isinstance(e, UserUttered)][-1] == text(6)


def test_a_kept_tracker_is_not_handed_back_after_a_purge_elsewhere_nor_once_old(
        store: PrivateTrackerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    chat(store, "purged", 3, time.time() - 3000)
    with store.engine.begin() as db:  # the nightly purge, run by another process
        db.execute(sa.text("DELETE FROM events WHERE sender_id = 'purged'"))
    assert asyncio.run(store.retrieve("purged")) is None
    chat(store, "old", 3, time.time() - 3000)
    monkeypatch.setattr(tracker_store, "KEPT_FOR_S", 0.0)
    kept = store.kept["old"][0]
    again = asyncio.run(store.retrieve("old"))
    assert again is not None and again is not kept


def test_on_postgresql_a_message_sends_its_statements_without_a_transaction_around_them(
        postgres_store: PrivateTrackerStore) -> None:
    """psycopg2 sends BEGIN before a transaction's first statement, and COMMIT or the pool's ROLLBACK after
    it: two round trips more for each use of a connection, while the replica's event loop waits. A message
    reads (its kept tracker's check, or the summary and the latest turns) and inserts its events each with
    one statement alone; an erasure rewrites the conversation in one transaction."""
    store = postgres_store
    chat(store, "alone", 3, time.time() - 3000)
    alone: list[bool] = []
    with statements(store, alone) as sql:
        kept = asyncio.run(store.retrieve("alone"))  # this process saved it: the check for anything since
        assert kept is not None
        for event in turn(4, time.time()):
            kept.update(event)
        asyncio.run(store.save(kept))
        store.kept.clear()  # as on another replica: the summary and the latest turns
        afresh = asyncio.run(store.retrieve("alone"))
        assert afresh is not None and [e.text for e in afresh.events if isinstance(e, UserUttered)][-1] == text(4)
    assert len(sql) == 4 and alone == [True] * 4, sql
    # Moving the summary after the insert, alone too: either way the conversation reads back whole.
    _, work = chat(store, "alone", WINDOW_TURNS + WINDOW_SLACK + 2, time.time() - 2000)
    assert any("conversation_summaries" in s and "INSERT" in s for _, sql in work.values() for s in sql)
    alone.clear()
    with statements(store, alone) as sql:
        erasing = asyncio.run(store.retrieve("alone"))
        assert erasing is not None
        reads = len(sql)
        erasing.update(SlotSet(tracker_store.ERASE_SLOT, True))
        asyncio.run(store.save(erasing))
    # The reads alone, then every statement of the erasure in its transaction.
    assert reads and len(sql) > reads and alone == [True] * reads + [False] * (len(sql) - reads), sql


def test_the_index_is_added_to_a_database_made_before_it(store: PrivateTrackerStore) -> None:
    with store.engine.begin() as db:
        db.execute(sa.text("DROP INDEX ix_events_sender_id_id"))
    assert "ix_events_sender_id_id" not in {i["name"] for i in sa.inspect(store.engine).get_indexes("events")}
    store.add_index()  # what the purge command does before the replicas start
    assert "ix_events_sender_id_id" in {i["name"] for i in sa.inspect(store.engine).get_indexes("events")}
