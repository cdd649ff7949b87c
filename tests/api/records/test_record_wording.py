"""What a resident reads about their health book is the content store's wording: staff reword a status
through review and the lookup answers with it; until then (or for a store never seeded) the seed."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from api.core.db import Database
from common.wording import seeds
from tests.api.conftest import PublishMessage
from tests.support.env import chat_headers
from tests.support.world import World, import_csv, person


def lookup(client: TestClient, someone: dict[str, str], chat: str) -> dict[str, object]:
    answer = client.post("/api/v1/records/status", headers=chat_headers(sender=chat),
                         json={"cccd": someone["cccd"], "birth_date": someone["birth_date"]})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_published_status_wording_is_what_the_lookup_answers(
        client: TestClient, world: World, staff_token: Callable[..., dict[str, str]], seeded_content: Database,
        publish_message: PublishMessage) -> None:
    commune = world.commune()
    station = staff_token("station", commune_id=commune["id"])
    someone = person(commune["id"])
    imported = import_csv(client, station, f"cccd,ngay_sinh,trang_thai,ngay_cap_nhat\n{someone['cccd']},"
                                           f"{someone['birth_date']},updated,01/10/2026\n")
    assert imported.status_code == 201, imported.text
    before = lookup(client, someone, "chat-1")
    assert (before["label"], before["next_step"]) == (seeds()["record_status_updated"], seeds()["record_next_updated"])

    reworded = "Kết quả khám đã có trong sổ"
    publish_message("record_status_updated", {"vi": reworded, "tyz": "Kết quả khám mí dú sổ"})
    after = lookup(client, someone, "chat-2")
    assert after["status"] == "updated" and after["label"] == reworded  # the API answers in Vietnamese
    assert after["next_step"] == seeds()["record_next_updated"]
    listed = client.get("/api/v1/records", headers=station).json()["items"]
    assert [row["label"] for row in listed] == [reworded]  # staff see the wording residents get


def test_without_a_seeded_store_the_answer_is_the_seeded_wording(client: TestClient) -> None:
    answer = lookup(client, person(1), "chat-1")
    assert answer["status"] == "not_found"
    assert (answer["label"], answer["next_step"]) == (seeds()["record_status_not_found"],
                                                      seeds()["record_next_not_found"])
