"""A station speaks only for its commune: its status list cannot rewrite another commune's people."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support.env import chat_headers
from tests.support.world import World, import_csv, person


def test_a_station_list_cannot_overwrite_or_move_another_communes_record(
        client: TestClient, world: World, staff_token: Any) -> None:
    home, elsewhere = world.commune("Hữu Liên"), world.commune("Thiện Tân")
    someone = person(home["id"])
    own = staff_token("station", commune_id=home["id"])
    assert import_csv(client, own, f"cccd,ngay_sinh,trang_thai\n{someone['cccd']},05/03/1958,đã lập\n"
                      ).json()["created"] == 1
    other = staff_token("station", commune_id=elsewhere["id"])
    result = import_csv(client, other, f"cccd,ngay_sinh,trang_thai\n{someone['cccd']},06/03/1958,chưa lập\n").json()
    assert (result["created"], result["updated"], result["failed"]) == (0, 0, 1)
    # The birth date and status the home station filed still stand.
    answer = client.post("/api/v1/records/status", headers=chat_headers(sender="owner"),
                         json={"cccd": someone["cccd"], "birth_date": someone["birth_date"]}).json()
    assert answer["status"] == "created"
    listed = client.get("/api/v1/records", headers=other).json()
    assert listed["items"] == []
