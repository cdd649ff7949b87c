"""The web chat's transcript: what a reloaded page reads back, what a lost response costs (nothing: the
same message is answered once), and what a stranger or the database learns from it (nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from common.keys import chat_identity_key
from common.wording import seeds
from gateway.app import create_app, token_fernet
from gateway.config import GatewaySettings
from gateway.conversation import Conversations, shown_text
from gateway.coordination import Coordination, LocalCoordination, RedisCoordination
from gateway.messages import Incoming
from gateway.rasa import RasaClient
from gateway.store import Store
from tests.support.env import TEST_SECRET, postgres_schema
from tests.support.fake_rasa import FakeRasa

PAGE = "w" + "0123456789abcdef01234567"  # the shape the page makes: 96 random bits


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The transcript on the embedded store and on PostgreSQL (the production profile's)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        with postgres_schema("ksk_web") as url:
            yield url


@pytest.fixture
def gateway(gateway_url: str, rasa: FakeRasa) -> Iterator[TestClient]:
    settings = GatewaySettings(gateway_database_url=gateway_url, rasa_retry_s=0.0)
    with TestClient(create_app(settings, rasa_transport=httpx.MockTransport(rasa)),
                    raise_server_exceptions=False) as client:
        yield client


def say(client: TestClient, text: str, message_id: str, session: str = PAGE, **page: object) -> httpx.Response:
    return client.post("/chat/messages", json={"session_id": session, "text": text, "message_id": message_id, **page})


def history(client: TestClient, session: str = PAGE) -> httpx.Response:
    return client.post("/chat/history", json={"session_id": session})


def test_a_reloaded_page_reads_the_conversation_back_with_taps_as_their_titles(
        gateway: TestClient, rasa: FakeRasa) -> None:
    assert history(gateway).json() == {"messages": []}
    say(gateway, "xin chao", "m-00000001")
    say(gateway, "nut", "m-00000002")
    say(gateway, '/inform{"session_id": "12"}', "m-00000003")  # the "Thứ Ba 7:30" button
    messages = history(gateway).json()["messages"]
    assert [m.get("id") for m in messages if m["who"] == "me"] == ["m-00000001", "m-00000002", "m-00000003"]
    assert [(m["who"], m["text"]) for m in messages] == [
        ("me", "xin chao"), ("bot", "Đã nhận: xin chao"), ("me", "nut"), ("bot", "Xin chọn buổi khám:"),
        ("me", "Thứ Ba 7:30"), ("bot", 'Đã nhận: /inform{"session_id": "12"}')]
    assert [b["title"] for b in messages[3]["buttons"]] == ["Thứ Ba 7:30", "Thứ Tư 7:30"]


def test_only_a_tap_reads_the_transcript_for_the_title_it_shows(
        gateway: TestClient, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typed words cannot be a button's payload: the chat's sealed turns are not read (nor opened) for
    them, so a long chat costs its typed messages nothing more; a tap still shows its button's title."""
    reads: list[str] = []
    real = Store.web_turns

    def counted(store: Store, session_id: str, **kwargs: object) -> list[tuple[str, dict[str, object]]]:
        reads.append(session_id)
        return real(store, session_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "web_turns", counted)
    for index, typed in enumerate(["xin chao", "nut", "dang ky kham", "0912 345 678", "co"]):
        say(gateway, typed, f"m-typed-{index:02d}")
    assert reads == []
    say(gateway, '/inform{"session_id": "12"}', "m-tapped-01")
    assert reads == [PAGE]
    assert history(gateway).json()["messages"][-2]["text"] == "Thứ Ba 7:30"


def test_a_message_sent_again_after_a_lost_response_is_answered_once(gateway: TestClient, rasa: FakeRasa) -> None:
    first = say(gateway, "nut", "m-retry-01").json()
    again = say(gateway, "nut", "m-retry-01").json()
    assert again == first and [m["message"] for m in rasa.seen] == ["nut"]
    assert [m["who"] for m in history(gateway).json()["messages"]] == ["me", "bot"]


def test_only_a_message_sent_again_looks_for_its_earlier_answer(
        gateway: TestClient, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page marks a first sending (`again: false`): no statement looks for an answer it cannot have.
    Its retry (`again: true`), and any message of a page from before the mark, still gets the answer
    it had instead of a second turn."""
    looked: list[str] = []
    real = Store.answered

    def counted(store: Store, session_id: str, message_id: str) -> list[dict[str, object]] | None:
        looked.append(message_id)
        return real(store, session_id, message_id)

    monkeypatch.setattr(Store, "answered", counted)
    first = say(gateway, "nut", "m-first-001", again=False).json()
    assert looked == []
    assert say(gateway, "nut", "m-first-001", again=True).json() == first
    assert say(gateway, "nut", "m-first-001").json() == first  # no mark: a page from before it
    assert looked == ["m-first-001", "m-first-001"] and [m["message"] for m in rasa.seen] == ["nut"]
    assert [m["who"] for m in history(gateway).json()["messages"]] == ["me", "bot"]
    refused = say(gateway, "nut", "m-first-002", again="maybe")
    assert refused.status_code == 422 and refused.json()["code"] == "validation_error"


@pytest.mark.parametrize("shared", [False, True], ids=["one process", "redis"])
def test_a_first_sending_that_waited_for_its_turn_finds_its_resend_answered(
        shared: bool, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The page sent a message (`again: false`), lost the connection and sent it again (`again: true`)
    while the first still waited for the chat's turn. Redis hands a freed lock to whichever waiter asks
    first, so the resend may be answered first (here: on another gateway, as the chat's turn was held):
    the first sending, having waited, looks for that answer instead of asking Rasa a second time."""
    rasa = FakeRasa()
    store = Store(f"sqlite:///{tmp_path / 'gateway.db'}", token_fernet())

    async def scenario() -> list[str]:
        coordination: Coordination = (RedisCoordination(request.getfixturevalue("redis_url")) if shared
                                      else LocalCoordination())
        client = RasaClient("http://rasa", transport=httpx.MockTransport(rasa),
                            identity_key=chat_identity_key(TEST_SECRET.encode()), retry_for_s=0.0)
        conversations = Conversations(store, client, coordination=coordination)
        try:
            async with coordination.lock(f"chat:web:{PAGE}"):  # the chat's turn, held by the resend
                first = asyncio.create_task(conversations.answer(Incoming("web", PAGE, "nut"), "m-raced-01",
                                                                 sent_before=False))
                await asyncio.sleep(0.1)
                store.add_web_turns(PAGE, "m-raced-01", [{"who": "me", "text": "nut"},
                                                         {"who": "bot", "text": "Xin chọn buổi khám:"}])
            replies = await asyncio.wait_for(first, 5)
            alone = await conversations.answer(Incoming("web", PAGE, "nut"), "m-alone-01", sent_before=False)
            return [r.text for r in replies + alone]
        finally:
            await client.close()
            await coordination.close()

    assert asyncio.run(scenario()) == ["Xin chọn buổi khám:", "Xin chọn buổi khám:"]
    assert [m["message"] for m in rasa.seen] == ["nut"]  # the second message only: the first was answered


def test_a_message_the_assistant_could_not_take_is_not_kept_and_goes_through_when_sent_again(
        gateway: TestClient, rasa: FakeRasa) -> None:
    rasa.down = True
    busy = say(gateway, "alo", "m-busy-001").json()["replies"]
    assert busy[0]["text"] == seeds()["utter_service_busy"]
    assert history(gateway).json() == {"messages": []}
    rasa.down = False
    assert say(gateway, "alo", "m-busy-001").json()["replies"][0]["text"] == "Đã nhận: alo"


def test_numbers_a_resident_typed_are_kept_masked_and_the_store_holds_no_plain_text(gateway: TestClient) -> None:
    say(gateway, "003175123987", "m-cccd-001")
    say(gateway, "0977 123 987", "m-phone-01")
    say(gateway, "01/02/1975", "m-birth-01")
    mine = [m["text"] for m in history(gateway).json()["messages"] if m["who"] == "me"]
    assert mine == ["••••••••••••", "•••• ••• •••", "••/••/••••"]
    store: Store = gateway.app.state.store  # type: ignore[attr-defined]
    with store.engine.connect() as connection:
        raw = b"".join(bytes(str(row), "utf-8") for row in connection.execute(
            text("SELECT chat, message_id, body FROM web_turns")))
    for secret in (b"003175123987", b"123987", b"0977", b"1975", PAGE.encode(), "Đã nhận".encode()):
        assert secret not in raw


def test_a_stranger_reads_no_chat_but_their_own(gateway: TestClient) -> None:
    say(gateway, "nut", "m-00000001")
    other = "w" + "f" * 24
    assert history(gateway, other).json() == {"messages": []}
    # Ids a script could guess (short, or not the page's shape) have no transcript at all.
    for guessable in ("web-session-2", "w123", "w" + "0" * 23, "W" + "0" * 24, PAGE + "!", ""):
        refused = history(gateway, guessable)
        assert refused.status_code == 422 and refused.json()["code"] == "validation_error", guessable
    say(gateway, "nut", "m-00000002", session="web-session-2")  # answered, never kept
    assert history(gateway).json()["messages"][-1]["text"] == "Xin chọn buổi khám:"


def test_a_transcript_ends_with_its_conversation(gateway: TestClient) -> None:
    say(gateway, "nut", "m-00000001")
    store: Store = gateway.app.state.store  # type: ignore[attr-defined]
    assert store.forget_web_turns(timedelta(minutes=60)) == 0
    assert store.forget_web_turns(timedelta(0)) == 2
    assert history(gateway).json() == {"messages": []}


def test_a_stale_payload_is_shown_as_the_title_it_had_and_a_typed_payload_is_masked_like_text() -> None:
    recent = [("", {"who": "bot", "buttons": [["Thứ Ba 7:30", "/inform{\"session_id\": \"123456\"}"]]})]
    assert shown_text('/inform{"session_id": "123456"}', recent) == "Thứ Ba 7:30"
    assert shown_text('/inform{"session_id": "123456"}', []) == '/inform{"session_id": "••••••"}'
    assert shown_text("ngay 5", []) == "ngay 5"


def test_the_transcript_masks_what_the_resident_gave_but_keeps_the_stations_phone_and_the_session_date() -> None:
    from datetime import date

    from common.masking import mask_echoes

    today = date(2026, 12, 1)
    assert mask_echoes("Có phải bác nói: «số của tôi là 0977123987»?", "số của tôi là 0977123987", today) == \
        "Có phải bác nói: «số của tôi là ••••••••••»?"
    summary = "Ngày sinh: 12/08/1962. Buổi khám: Thứ Ba, 08/12/2026. Gọi trạm 0205 3821 111 hoặc 1900 9095."
    assert mask_echoes(summary, "/affirm", today) == \
        "Ngày sinh: ••/••/••••. Buổi khám: Thứ Ba, 08/12/2026. Gọi trạm 0205 3821 111 hoặc 1900 9095."
    question = "Ngày sinh của người đi khám? Xin ghi ngày/tháng/năm, ví dụ 05/03/1958."
    assert mask_echoes(question, "Triệu Thị Hoa", today) == question
