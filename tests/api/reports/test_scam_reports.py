"""Scam reports: anyone (the bot) may file one, digits are masked, staff see their own commune's."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support.world import World


def test_scam_report_is_kept_masked_and_listed_for_staff_of_that_commune(
    client: TestClient, world: World, staff_token: Any
) -> None:
    home, other = world.commune("Hữu Liên"), world.commune("Yên Thịnh")
    filed = client.post("/api/v1/reports/scam", json={
        "text": "Có người gọi số 0912 345 678 bảo chuyển 500.000 đồng vào tài khoản 1903 5566 7788 để được khám",
        "channel": "zalo", "commune_id": home["id"]})
    assert filed.status_code == 201, filed.text
    assert "345 678" not in filed.text and "5566" not in filed.text
    assert client.post("/api/v1/reports/scam", json={"text": "tin nhắn lạ đòi mã OTP"}).status_code == 201

    assert client.get("/api/v1/reports/scam").status_code == 401
    assert client.get("/api/v1/reports/scam", headers=staff_token("cadre")).status_code == 403
    everything = client.get("/api/v1/reports/scam", headers=staff_token("editor")).json()["items"]
    assert len(everything) == 2

    station = staff_token("station", commune_id=home["id"])
    mine = client.get("/api/v1/reports/scam", headers=station).json()["items"]
    assert [r["id"] for r in mine] == [filed.json()["id"]]
    assert client.get("/api/v1/reports/scam", params={"commune_id": other["id"]}, headers=station).status_code == 403

    reviewed = client.post(f"/api/v1/reports/scam/{filed.json()['id']}/reviewed", headers=station)
    assert reviewed.status_code == 200 and reviewed.json()["reviewed"] is True
    assert client.get("/api/v1/reports/scam", headers=station).json()["items"] == []
    audit = client.get("/api/v1/audit", headers=staff_token("admin")).json()["items"]
    assert any(entry["action"] == "scam_report.review" for entry in audit)


def test_scam_report_rejects_bad_input_with_stable_codes(client: TestClient) -> None:
    assert client.post("/api/v1/reports/scam", json={"text": ""}).status_code == 422
    unknown = client.post("/api/v1/reports/scam", json={"text": "lừa đảo", "commune_id": 999999})
    assert unknown.status_code == 404 and unknown.json()["code"] == "commune_not_found"
    assert client.post("/api/v1/reports/scam/999999/reviewed").status_code == 401
