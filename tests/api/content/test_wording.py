"""Every sentence a resident reads has one key in the content store: seeded with its current wording
from bot/domain.yml and bot/texts, never overwritten by a later seeding, and only changed through
review; placeholders stay those the code fills, and a stray brace is refused before residents see it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.content.models import BotMessage
from api.content.service import seed_messages, text_for
from api.core.db import Database
from common.wording import domain_seeds, seeds, text_seeds
from tests.api.conftest import PublishMessage
from tests.support.world import csrf_of

# Texts the API itself puts in front of residents; each must be a seeded key.
API_KEYS = ("record_status_updated", "record_next_not_found", "reminder_button_confirm", "reminder_button_stop",
            "announcement_button_stop", "announcement_read_in_vietnamese", "referral_share_text")


def test_every_seed_is_in_the_store_and_in_the_bundle_the_assistant_polls(
        client: TestClient, seeded_content: Database, staff_token: Any) -> None:
    texts_folder = text_seeds()
    assert set(API_KEYS) <= set(texts_folder) and not set(texts_folder) & set(domain_seeds())
    messages = client.get("/api/v1/content/bundle").json()["messages"]
    assert {key: texts.get("vi") for key, texts in messages.items() if key in seeds()} == seeds()
    assert messages["record_status_updated"] == {"vi": "Đã cập nhật kết quả khám"}
    assert messages["reminder_button_confirm"] == {"vi": "Tôi sẽ đến"}
    # Speakers record them too; they are messages, not FAQ answers, though not named `utter_…`.
    rows = client.get("/api/v1/audio/coverage", headers=staff_token("editor")).json()["rows"]
    kinds = {row["key"]: row["kind"] for row in rows}
    # What speakers record: the assistant's responses and FAQ answers, not buttons or parts of sentences.
    assert kinds["utter_greet"] == "message" and kinds["free_of_charge"] == "faq"
    assert "record_status_updated" not in kinds and "web_send" not in kinds


def test_seeding_again_adds_what_is_missing_and_keeps_what_staff_published(
        client: TestClient, seeded_content: Database, publish_message: PublishMessage) -> None:
    publish_message("reminder_button_stop", {"vi": "Thôi, đừng nhắc nữa"})
    with seeded_content.write() as db:
        db.delete(db.scalars(select(BotMessage).where(BotMessage.key == "record_next_updated")).one())
    with seeded_content.write() as db:
        assert seed_messages(db) == 1  # the one missing, nothing else
    messages = client.get("/api/v1/content/bundle").json()["messages"]
    assert messages["reminder_button_stop"]["vi"] == "Thôi, đừng nhắc nữa"
    assert messages["record_next_updated"]["vi"] == seeds()["record_next_updated"]


def test_a_text_is_chosen_in_the_language_then_vietnamese_then_the_seed() -> None:
    published = {"reminder_button_cancel": {"vi": "Hủy hẹn", "tyz": "Hủy lịch (Tày)"}}
    assert text_for(published, "reminder_button_cancel", "tyz") == "Hủy lịch (Tày)"
    assert text_for(published, "reminder_button_cancel", "hmn") == "Hủy hẹn"
    assert text_for({}, "reminder_button_cancel", "hmn") == "Hủy lịch"  # store unreachable or not seeded
    share = text_for({}, "referral_share_text", "vi", {"organisation": "Hội Nông dân", "commune": "Xã A",
                                                       "url": "https://k.vn/r/ND-X"})
    assert share.startswith("Hội Nông dân Xã A thông báo") and "https://k.vn/r/ND-X" in share and "{" not in share
    with pytest.raises(KeyError):
        text_for({}, "reminder_button_nowhere", "vi")


def draft(client: TestClient, headers: dict[str, str], key: str, texts: dict[str, str]) -> Any:
    return client.post("/api/v1/content/revisions", headers=headers,
                       json={"kind": "message", "key": key, "payload": {"texts": texts}})


def test_drafts_keep_to_the_placeholders_the_code_fills_and_refuse_stray_braces(
        client: TestClient, seeded_content: Database, staff_token: Any, publish_message: PublishMessage) -> None:
    editor = staff_token("editor")
    share = seeds()["referral_share_text"]
    unknown = draft(client, editor, "referral_share_text", {"vi": share + " Gọi {phone}."})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_placeholder")
    assert unknown.json()["details"]["allowed"] == ["commune", "organisation", "url"]
    for texts, language in (({"vi": "Tôi sẽ đến {"}, "vi"), ({"vi": "Tôi sẽ đến", "tyz": "Bấu {code"}, "tyz"),
                            ({"vi": "Mã {} của bác"}, "vi"), ({"vi": "Tôi sẽ đến", "hmn": "{ code }"}, "hmn")):
        stray = draft(client, editor, "reminder_button_confirm", texts)
        assert (stray.status_code, stray.json()["code"]) == (422, "malformed_placeholder"), texts
        assert stray.json()["details"] == {"language": language}
    assert "tiếng Tày" in draft(client, editor, "reminder_button_confirm",
                                {"vi": "Tôi sẽ đến", "tyz": "x}"}).json()["message"]
    # A text staff shortened may take back the placeholders of its seed.
    publish_message("referral_share_text", {"vi": "Đặt lịch khám miễn phí: {url}"})
    assert draft(client, editor, "referral_share_text", {"vi": share}).status_code == 201
    listed = {m["key"]: m for m in client.get("/api/v1/content/messages", headers=editor).json()["items"]}
    assert listed["referral_share_text"]["placeholders"] == ["commune", "organisation", "url"]
    # An FAQ answer cannot take a message's key: clips and recording texts are found by key alone.
    taken = client.post("/api/v1/content/revisions", headers=editor, json={
        "kind": "faq", "key": "record_status_updated", "payload": {"questions": ["sổ"], "answers": {"vi": "x"}}})
    assert (taken.status_code, taken.json()["code"]) == (422, "key_is_message")


def test_the_studio_page_explains_both_refusals_and_names_the_language(
        studio_login: Any, seeded_content: Database) -> None:
    editor = studio_login("editor")
    page = editor.get("/studio/messages/referral_share_text")
    assert page.status_code == 200 and "<code>{url}</code>" in page.text
    empty = {f"text_{lang}": "" for lang in ("tyz", "nut", "hmn", "ium")}
    form = {"csrf": csrf_of(page.text), "action": "save", **empty}
    unknown = editor.post("/studio/messages/referral_share_text", data={**form, "text_vi": "Gọi {phone}"})
    assert unknown.status_code == 422 and "chỗ điền" in unknown.text and "phone" in unknown.text
    stray = editor.post("/studio/messages/reminder_button_confirm",
                        data={**form, "text_vi": "Tôi sẽ đến", "text_nut": "Tôi sẽ đến {"})
    assert stray.status_code == 422 and "Bản tiếng Nùng có dấu ngoặc nhọn" in stray.text
    with seeded_content.read() as db:
        assert db.scalar(select(BotMessage.text).where(BotMessage.key == "reminder_button_confirm",
                                                       BotMessage.language == "nut")) is None
