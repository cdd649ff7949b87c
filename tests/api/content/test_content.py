"""Content workflow: drafts, review by someone else, publication without retraining, history, roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.models import AuditEntry
from api.core.clock import local_today
from api.core.db import Database
from tests.support.world import World, faq_search

Headers = dict[str, str]


def faq_payload(client: TestClient, key: str, **changes: Any) -> dict[str, Any]:
    live = client.get(f"/api/v1/faq/{key}").json()
    payload = {"category": live["category"], "questions": live["questions"], "answers": live["answers"]}
    payload.update(changes)
    return payload


def draft(client: TestClient, headers: Headers, kind: str, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/content/revisions", json={"kind": kind, "key": key, "payload": payload},
                           headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def act(client: TestClient, headers: Headers, revision_id: int, verb: str, **body: Any) -> Any:
    return client.post(f"/api/v1/content/revisions/{revision_id}/{verb}", json=body or None, headers=headers)


def test_an_answer_changes_only_after_another_editor_publishes_it(
        client: TestClient, seeded_content: Database, staff_token: Any) -> None:
    author, reviewer = staff_token("editor"), staff_token("editor")
    old = faq_search(client, "ksk co mat tien k")[0]["answer"]
    new_text = "Khám sức khỏe định kỳ theo Chỉ thị 17 hoàn toàn miễn phí (nội dung mới)."
    payload = faq_payload(client, "free_of_charge", answers={"vi": new_text, "tyz": "Khám bấu mất chèn."})
    commune_id = World(client, staff_token("admin")).commune()["id"]
    for role in ("cadre", "station"):
        refused = client.post("/api/v1/content/revisions", json={"kind": "faq", "key": "free_of_charge",
                                                                  "payload": payload},
                              headers=staff_token(role, commune_id=commune_id))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    revision = draft(client, author, "faq", "free_of_charge", payload)
    assert revision["status"] == "draft"
    assert faq_search(client, "ksk co mat tien k")[0]["answer"] == old  # a draft is not what residents read
    # Nobody publishes their own change; it must be sent for review first.
    assert act(client, reviewer, revision["id"], "publish").json()["code"] == "revision_wrong_state"
    assert act(client, author, revision["id"], "submit").json()["status"] == "in_review"
    own = act(client, author, revision["id"], "publish")
    assert own.status_code == 403 and own.json()["code"] == "own_revision"
    published = act(client, reviewer, revision["id"], "publish")
    assert published.status_code == 200 and published.json()["reviewer"]
    assert faq_search(client, "ksk co mat tien k")[0]["answer"] == new_text
    assert faq_search(client, "ksk co mat tien k", lang="tyz")[0]["answer"] == "Khám bấu mất chèn."
    assert act(client, reviewer, revision["id"], "publish").json()["code"] == "revision_wrong_state"
    history = client.get("/api/v1/content/revisions", params={"key": "free_of_charge"}, headers=author).json()
    assert [(r["status"], r["author"] != r["reviewer"]) for r in history["items"]] == [("published", True)]
    with seeded_content.read() as db:
        actions = db.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == "free_of_charge")).all()
    assert actions == ["content.draft", "content.submit", "content.publish"]


def test_one_open_change_per_item_and_rejection_keeps_the_old_text(
        client: TestClient, seeded_content: Database, staff_token: Any) -> None:
    first, second, admin = staff_token("editor"), staff_token("editor"), staff_token("admin")
    payload = faq_payload(client, "hotline", questions=["số máy trực của xã", "hotline"])
    revision = draft(client, first, "faq", "hotline", payload)
    again = draft(client, first, "faq", "hotline", {**payload, "category": "lien_he"})  # own draft: updated
    assert again["id"] == revision["id"] and again["payload"]["category"] == "lien_he"
    clash = client.post("/api/v1/content/revisions", json={"kind": "faq", "key": "hotline", "payload": payload},
                        headers=second)
    assert clash.status_code == 409 and clash.json()["code"] == "revision_open"
    act(client, first, revision["id"], "submit")
    rejected = act(client, second, revision["id"], "reject", comment="Thiếu số điện thoại trạm.")
    assert rejected.json()["status"] == "rejected"
    assert faq_search(client, "so may truc cua xa")[0]["key"] != "hotline" or \
        "số máy trực của xã" not in client.get("/api/v1/faq/hotline").json()["questions"]
    # An admin (a station with a single admin) may publish a draft of their own directly.
    own = draft(client, admin, "faq", "hotline", payload)
    assert act(client, admin, own["id"], "publish").status_code == 200
    assert faq_search(client, "so may truc cua xa")[0]["key"] == "hotline"


def test_bad_drafts_are_refused_with_a_reason(client: TestClient, seeded_content: Database, staff_token: Any) -> None:
    editor = staff_token("editor")
    cases = [
        ({"kind": "faq", "key": "free_of_charge", "payload": {"questions": ["x"], "answers": {"tyz": "x"}}},
         422, "incomplete_content"),
        ({"kind": "faq", "key": "free_of_charge", "payload": {"questions": ["x"], "answers": {"vi": "x", "fr": "y"}}},
         422, "unknown_language"),
        ({"kind": "faq", "key": "free_of_charge", "payload": {
            "questions": ["x"], "answers": {"vi": "x"}, "effective_from": "2027-02-01", "expires_on": "2027-01-01"}},
         422, "validation_error"),
        ({"kind": "faq", "key": "Bad Key!", "payload": {}}, 422, "validation_error"),
        ({"kind": "message", "key": "utter_khong_co", "payload": {"texts": {"vi": "x"}}}, 404, "message_not_found"),
        ({"kind": "message", "key": "utter_booking_confirmed", "payload": {"texts": {"vi": "Mã {ma_moi}"}}},
         422, "unknown_placeholder"),
        ({"kind": "message", "key": "utter_greet", "payload": {"texts": {"vi": "  "}}}, 422, "incomplete_content"),
        ({"kind": "message", "key": "utter_greet", "payload": {"texts": "not a dict"}}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = client.post("/api/v1/content/revisions", json=body, headers=editor)
        assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)
        assert response.json()["message"]


def test_a_published_message_reaches_the_bundle_the_assistant_polls(
        client: TestClient, seeded_content: Database, staff_token: Any) -> None:
    author, reviewer = staff_token("editor"), staff_token("admin")
    first = client.get("/api/v1/content/bundle")
    etag = first.headers["etag"]
    assert client.get("/api/v1/content/bundle", headers={"If-None-Match": etag}).status_code == 304
    messages = first.json()["messages"]
    assert messages["utter_greet"]["vi"].startswith("Xin chào")
    text = "Chào bác! Tôi là trợ lý khám sức khỏe của tỉnh, mã lịch {booking_code}."
    refused = client.post("/api/v1/content/revisions", json={
        "kind": "message", "key": "utter_greet", "payload": {"texts": {"vi": text}}}, headers=author)
    assert refused.json()["code"] == "unknown_placeholder"  # utter_greet has no booking code to fill in
    allowed = messages["utter_booking_confirmed"]["vi"]
    revision = draft(client, author, "message", "utter_booking_confirmed",
                     {"texts": {"vi": "Đặt xong! " + allowed, "hmn": "Ua tiav lawm {code}"}})
    act(client, author, revision["id"], "submit")
    act(client, reviewer, revision["id"], "publish")
    changed = client.get("/api/v1/content/bundle", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    texts = changed.json()["messages"]["utter_booking_confirmed"]
    assert texts["vi"].startswith("Đặt xong! ") and texts["hmn"].startswith("Ua tiav")
    listed = client.get("/api/v1/content/messages", headers=author).json()["items"]
    assert any(m["key"] == "utter_booking_confirmed" and "code" in m["placeholders"] for m in listed)


def test_answers_apply_only_between_their_dates(client: TestClient, seeded_content: Database, staff_token: Any) -> None:
    admin = staff_token("admin")
    today = local_today()
    for key, start, end in (("lich_kham_sap_toi", today + timedelta(days=3), None),
                            ("lich_kham_da_qua", None, today),
                            ("lich_kham_hom_nay", today, today + timedelta(days=1))):
        payload = {"category": "lich", "questions": [f"đợt khám {key.replace('_', ' ')}"],
                   "answers": {"vi": f"Nội dung {key}."},
                   "effective_from": start.isoformat() if start else None,
                   "expires_on": end.isoformat() if end else None}
        revision = draft(client, admin, "faq", key, payload)
        assert act(client, admin, revision["id"], "publish").status_code == 200
    keys = {hit["key"] for hit in faq_search(client, "đợt khám lich kham", limit="10")}
    assert "lich_kham_hom_nay" in keys
    assert not keys & {"lich_kham_sap_toi", "lich_kham_da_qua"}


def test_unanswered_question_becomes_a_variant_in_a_draft(
        client: TestClient, seeded_content: Database, staff_token: Any) -> None:
    editor, reviewer = staff_token("editor"), staff_token("editor")
    item = client.post("/api/v1/faq/unanswered", json={"text": "kham suc khoe co phai dong tien ko", "channel": "web",
                                                       "best_key": "free_of_charge", "best_score": 0.3}).json()
    cadre = client.post(f"/api/v1/faq/unanswered/{item['id']}/variant", json={"key": "free_of_charge"},
                        headers=staff_token("cadre"))
    assert cadre.status_code == 403
    revision = client.post(f"/api/v1/faq/unanswered/{item['id']}/variant", json={"key": "free_of_charge"},
                           headers=editor)
    assert revision.status_code == 201, revision.text
    assert "kham suc khoe co phai dong tien ko" in revision.json()["payload"]["questions"]
    assert client.get("/api/v1/faq/unanswered", headers=editor).json()["items"] == []
    act(client, editor, revision.json()["id"], "submit")
    act(client, reviewer, revision.json()["id"], "publish")
    assert faq_search(client, "kham suc khoe co phai dong tien ko")[0]["key"] == "free_of_charge"
    missing = client.post("/api/v1/faq/unanswered/999999/dismiss", headers=editor)
    assert missing.status_code == 404
