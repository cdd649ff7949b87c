"""Reports: a scripted month counted exactly by commune, age group, channel and organisation; the page's
chart puts the commune that is behind first; CSV and XLSX open in spreadsheet libraries and match the
page; the monthly workbook; roles and scoping."""

from __future__ import annotations

import csv
import io
import re
import shutil
from datetime import datetime
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from api.core.clock import local_today
from tests.support.world import World, person


def number(value: object) -> object:
    """Spreadsheet cells hold numbers, CSV cells text: compare them as numbers where they are."""
    try:
        return float(str(value))
    except ValueError:
        return "" if value is None else str(value)


@pytest.fixture
def month(client: TestClient, world: World, staff_token: Any) -> dict[str, Any]:
    """Hữu Liên: 3 appointments (1 examined, 1 did not come, 1 to come); Thiện Tân: 1, examined."""
    cadre = staff_token("cadre")
    links = {}
    places = {}
    stations = {}
    for name in ("Hữu Liên", "Thiện Tân"):
        commune = world.commune(name)
        site = world.site(commune["id"])
        places[name] = {"commune": commune, "session": world.session(site["id"], capacity=10, days=3)}
        stations[name] = staff_token("station", commune_id=commune["id"])
        links[name] = client.post("/api/v1/referrals", headers=cadre, json={
            "organisation": "phu_nu", "commune_id": commune["id"]}).json()["code"]
    plan = [("Hữu Liên", 1950, "zalo", True, "attended"), ("Hữu Liên", 1990, "web", False, "no_show"),
            ("Hữu Liên", 2012, "telegram", False, None), ("Thiện Tân", 1945, "zalo", True, "attended")]
    for index, (name, year, channel, via_link, outcome) in enumerate(plan, start=1):
        body: dict[str, Any] = {"session_id": places[name]["session"]["id"], "channel": channel,
                                "resident": person(places[name]["commune"]["id"], year=year, index=index)}
        if via_link:
            body["referral_code"] = links[name]
        booking = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": f"month-report-{index}"})
        assert booking.status_code == 201, booking.text
        if outcome:
            client.post(f"/api/v1/bookings/{booking.json()['code']}/attendance",
                        json={"attended": outcome == "attended"}, headers=stations[name])
    starts = datetime.fromisoformat(places["Hữu Liên"]["session"]["starts_at"])
    return {"month": f"{starts:%Y-%m}", "places": places}


def test_a_scripted_month_is_counted_exactly(client: TestClient, month: dict[str, Any], staff_token: Any) -> None:
    admin = staff_token("admin")

    def rows(by: str) -> dict[str, list[int]]:
        response = client.get("/api/v1/reports/appointments", params={"month": month["month"], "by": by},
                              headers=admin)
        assert response.status_code == 200, response.text
        return {r["label"]: [r["booked"], r["attended"], r["no_show"]] for r in response.json()["rows"]}

    assert rows("commune") == {"Hữu Liên": [3, 1, 1], "Thiện Tân": [1, 1, 0], "Tổng cộng": [4, 2, 1]}
    assert rows("group") == {"Người cao tuổi (từ 60)": [2, 2, 0], "Người lớn (16–59)": [1, 0, 1],
                             "Trẻ em (dưới 16)": [1, 0, 0], "Tổng cộng": [4, 2, 1]}
    assert rows("channel") == {"Trang web": [1, 0, 1], "Zalo": [2, 2, 0], "Telegram": [1, 0, 0],
                               "Tổng cộng": [4, 2, 1]}
    assert rows("organisation") == {"Hội Liên hiệp Phụ nữ": [2, 2, 0], "Tự đặt (không qua đường dẫn)": [2, 0, 1],
                                    "Tổng cộng": [4, 2, 1]}
    other_month = client.get("/api/v1/reports/appointments", params={"month": "2020-01"}, headers=admin).json()
    assert other_month["rows"][-1]["booked"] == 0
    assert client.get("/api/v1/reports/appointments", params={"month": "2026-13"}, headers=admin).status_code == 422
    assert client.get("/api/v1/reports/appointments", headers=staff_token("cadre")).status_code == 403
    # Station staff of a commune see only theirs.
    station = staff_token("station", commune_id=month["places"]["Thiện Tân"]["commune"]["id"])
    scoped = client.get("/api/v1/reports/appointments", params={"month": month["month"]}, headers=station).json()
    assert [r["label"] for r in scoped["rows"]] == ["Thiện Tân", "Tổng cộng"]


def test_exports_open_in_spreadsheet_libraries_and_match_the_page(
        client: TestClient, month: dict[str, Any], studio_login: Any) -> None:
    admin = studio_login("admin")
    page = admin.get("/studio/reports", params={"month": month["month"], "by": "commune"})
    assert page.status_code == 200
    table = page.text.split('id="report"')[1].split("</table>")[0]
    on_page = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd]>(.*?)</t[hd]>", line)]
               for line in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)]
    exported = admin.get("/studio/reports/export.csv", params={"month": month["month"], "by": "commune"})
    assert exported.headers["content-type"].startswith("text/csv")
    from_csv = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert from_csv == on_page and from_csv[1][0] == "Hữu Liên" and from_csv[1][6] == "50.0"
    workbook = openpyxl.load_workbook(io.BytesIO(admin.get("/studio/reports/export.xlsx", params={
        "month": month["month"], "by": "commune"}).content))
    from_xlsx = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    assert [[number(v) for v in row] for row in from_xlsx] == [[number(v) for v in row] for row in from_csv]
    monthly_file = admin.get("/studio/reports/export.monthly.xlsx", params={"month": month["month"]})
    assert monthly_file.status_code == 200, monthly_file.text[:500]
    monthly = openpyxl.load_workbook(io.BytesIO(monthly_file.content))
    assert monthly.sheetnames == ["Xã-phường", "Nhóm tuổi", "Kênh", "Tổ chức giới thiệu", "Chuyển đổi số",
                                  "Cán bộ giới thiệu"]
    # The chart: the commune that is behind (lower share examined) comes first.
    chart = page.text.split('id="chart"')[1].split("</svg>")[0]
    assert chart.index("Hữu Liên") < chart.index("Thiện Tân") and "<svg" in chart
    assert studio_login("editor").get("/studio/reports").status_code == 403


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None,
                    reason="espeak-ng/ffmpeg not installed (make setup-system)")
def test_questions_unanswered_and_audio_plays_are_counted(
        client: TestClient, month: dict[str, Any], staff_token: Any, seeded_content: Any) -> None:
    for channel in ("zalo", "zalo", "web"):
        assert client.get("/api/v1/faq/search", params={"q": "kham co mat tien khong", "channel": channel}
                          ).status_code == 200
    client.get("/api/v1/faq/search", params={"q": "khong dem"})  # staff trying the search: not counted
    client.post("/api/v1/faq/unanswered", json={"text": "gia lua bao nhieu", "channel": "zalo"})
    speech = client.post("/api/v1/audio/speech", json={"text": "Xin chào."}).json()
    path = speech["mp3_url"].split("testserver", 1)[1]
    client.get(path)
    client.get(path, headers={"Range": "bytes=1000-"})  # the same play continuing
    today = local_today().strftime("%Y-%m")
    usage = client.get("/api/v1/reports/appointments", params={"month": today},
                       headers=staff_token("admin")).json()["usage"]
    assert usage["questions"] == {"web": 1, "zalo": 2}
    assert usage["unanswered"] == {"zalo": 1}
    assert usage["audio_plays"] == {"vi": 1}
