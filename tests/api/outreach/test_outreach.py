"""Cadres' booking links: creation, QR code and share text, roles, and a funnel that counts a scripted
scenario exactly — through the real gateway reporting to the API — without revealing anyone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.core.db import Database
from common.keys import internal_token
from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from tests.api.conftest import PublishMessage
from tests.support.env import TEST_SECRET
from tests.support.servers import wait_for
from tests.support.world import World, csrf_of, person

URL = "/api/v1/referrals"


@pytest.fixture
def place_capacity() -> int:
    return 5  # a link's funnel books three people, none of them waitlisted


@pytest.fixture
def gateway(client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The real gateway, its API calls going to the test API in-process; Rasa answers with an echo."""
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    settings = GatewaySettings(gateway_database_url=f"sqlite:///{tmp_path / 'gateway.db'}", api_url="http://api")

    def api(request: httpx.Request) -> httpx.Response:
        answer = client.request(request.method, request.url.path, content=request.content,
                                headers=dict(request.headers))
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    def rasa(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"text": "Đã nhận: " + json.loads(request.content)["message"]}])

    app = create_gateway(settings, rasa_transport=httpx.MockTransport(rasa), api_transport=httpx.MockTransport(api))
    with TestClient(app) as test_client:
        yield test_client


def create(client: TestClient, headers: dict[str, str], commune_id: int, organisation: str = "phu_nu") -> Any:
    return client.post(URL, headers=headers,
                       json={"organisation": organisation, "commune_id": commune_id, "label": "Chi hội thôn Nà Pàn"})


def test_a_cadre_gets_a_short_link_a_printable_qr_and_share_text(
        client: TestClient, place: dict[str, Any], staff_token: Any, settings: Settings) -> None:
    cadre = staff_token("cadre")
    response = create(client, cadre, place["commune"]["id"])
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["code"].startswith("PN-") and len(link["code"]) == 9
    assert link["short_url"] == f"{settings.gateway_public_url}/r/{link['code']}"
    assert link["organisation_name"] == "Hội Liên hiệp Phụ nữ" and link["commune"] == place["commune"]["name"]
    assert link["short_url"] in link["share_text"] and "MIỄN PHÍ" in link["share_text"] and "OTP" in link["share_text"]
    png = client.get(link["qr_png_url"], headers=cadre)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    svg = client.get(link["qr_svg_url"], headers=cadre)
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    assert client.get(link["qr_png_url"]).status_code == 401
    assert client.get(f"{URL}/{link['code']}/qr.gif", headers=cadre).status_code == 404


def test_the_share_text_is_the_published_wording_with_the_links_values(
        client: TestClient, place: dict[str, Any], staff_token: Any, seeded_content: Database,
        publish_message: PublishMessage) -> None:
    cadre = staff_token("cadre")
    link = create(client, cadre, place["commune"]["id"], organisation="nong_dan").json()
    assert link["share_text"].startswith(f"Hội Nông dân {place['commune']['name']} thông báo: ")
    publish_message("referral_share_text", {"vi": "{organisation} mời bà con đi khám miễn phí: {url}"})
    listed = client.get(URL, headers=cadre).json()["items"]
    assert [item["share_text"] for item in listed] == [f"Hội Nông dân mời bà con đi khám miễn phí: {link['short_url']}"]


def test_who_may_create_and_see_links(client: TestClient, world: World, place: dict[str, Any], staff_token: Any
                                      ) -> None:
    mine, other = staff_token("cadre"), staff_token("cadre")
    link = create(client, mine, place["commune"]["id"], "nong_dan").json()
    assert create(client, staff_token("editor"), place["commune"]["id"]).status_code == 403
    assert client.post(URL, json={"organisation": "hoi_khac", "commune_id": place["commune"]["id"]},
                       headers=mine).status_code == 422
    assert create(client, mine, 999_999).json()["code"] == "commune_not_found"
    assert client.get(URL, headers=other).json()["items"] == []
    assert client.get(link["qr_png_url"], headers=other).status_code == 404
    assert client.patch(f"{URL}/{link['code']}", json={"active": False}, headers=other).status_code == 404
    another_commune = world.commune("Thiện Tân")
    tied = staff_token("cadre", commune_id=another_commune["id"])
    assert create(client, tied, place["commune"]["id"]).status_code == 403
    station = staff_token("station", commune_id=place["commune"]["id"])
    assert [i["code"] for i in client.get(URL, headers=station).json()["items"]] == [link["code"]]
    assert client.get(f"{URL}/summary", headers=mine).status_code == 403


def test_the_funnel_counts_a_scripted_scenario_exactly_and_names_nobody(
        client: TestClient, gateway: TestClient, place: dict[str, Any], staff_token: Any) -> None:
    cadre, admin = staff_token("cadre"), staff_token("admin")
    station = staff_token("station", commune_id=place["commune"]["id"])
    link = create(client, cadre, place["commune"]["id"]).json()
    code = link["code"]
    other = create(client, staff_token("cadre"), place["commune"]["id"], "thanh_nien").json()
    # Opened four times (once twice by the same phone: opens are opens), once a typed-in code nobody issued.
    for _ in range(4):
        assert gateway.get(f"/r/{code}").status_code == 200
    assert gateway.get("/r/PN-KHONGCO").status_code == 200
    # Three chats start from the link; one of them writes twice (still one chat); one chat is from another link.
    for session_id, text in (("chat-aaaa-1", "xin chao"), ("chat-aaaa-1", "dat lich"), ("chat-bbbb-2", "alo"),
                             ("chat-cccc-3", "kham")):
        gateway.post("/chat/messages", json={"session_id": session_id, "text": text, "referral_code": code})
    gateway.post("/chat/messages", json={"session_id": "chat-dddd-4", "text": "alo", "referral_code": other["code"]})
    # Two bookings credited to the link (one comes and is examined), one without a link.
    codes = []
    for index, referral in ((1, code), (2, code), (3, None)):
        body = {"session_id": place["session"]["id"], "channel": "web",
                "resident": person(place["commune"]["id"], index=index)}
        if referral:
            body["referral_code"] = referral
        booked = client.post("/api/v1/bookings", json=body, headers={"Idempotency-Key": f"outreach-{index}"})
        assert booked.status_code == 201, booked.text
        codes.append(booked.json()["code"])
    assert client.post(f"/api/v1/bookings/{codes[0]}/attendance", json={"attended": True},
                       headers=station).status_code == 200
    expected = {"opened": 4, "chat_started": 3, "booked": 2, "attended": 1}

    def funnel_now() -> dict[str, int]:
        funnel: dict[str, int] = client.get(URL, headers=cadre).json()["items"][0]["funnel"]
        return funnel

    # The gateway reports in the background: wait for it, then the counts must be exactly these.
    wait_for(lambda: funnel_now() == expected, timeout_s=10, what=funnel_now)
    listed = client.get(URL, headers=cadre)
    funnel = listed.json()["items"][0]["funnel"]
    # Counts only: nothing in the cadre's view names or numbers a resident.
    for resident_index in (1, 2):
        resident = person(place["commune"]["id"], index=resident_index)
        for value in (resident["full_name"], resident["phone"], resident["cccd"]):
            assert value not in listed.text
    summary = client.get(f"{URL}/summary", headers=admin).json()
    by_org = {row["key"]: row for row in summary["organisations"]}
    assert by_org["phu_nu"]["funnel"] == funnel and by_org["thanh_nien"]["funnel"]["chat_started"] == 1
    assert summary["communes"][0]["links"] == 2 and summary["total"]["chat_started"] == 4
    # A switched-off link stops counting; events need the gateway's token.
    client.patch(f"{URL}/{code}", json={"active": False}, headers=cadre)
    token = {"X-Internal-Token": internal_token(TEST_SECRET.encode())}
    assert client.post(f"{URL}/{code}/events", json={"kind": "opened"}, headers=token).status_code == 404
    assert client.post(f"{URL}/{other['code']}/events", json={"kind": "opened"}).status_code == 401
    assert client.post(f"{URL}/{other['code']}/events", json={"kind": "opened"},
                       headers={"X-Internal-Token": "0" * 64}).status_code == 401
    assert client.post(f"{URL}/{other['code']}/events", json={"kind": "booked"}, headers=token).status_code == 422
    assert client.post(f"{URL}/{other['code']}/events", json={"kind": "opened"}, headers=token).status_code == 204


def test_cadres_create_print_and_share_links_in_the_pages(
        studio_login: Any, place: dict[str, Any], client: TestClient, staff_token: Any) -> None:
    cadre = studio_login("cadre")
    assert cadre.get("/studio/", follow_redirects=False).headers["location"] == "/studio/links"
    page = cadre.get("/studio/links")
    assert page.status_code == 200 and "Tạo đường dẫn mới" in page.text
    assert cadre.get("/studio/faq").status_code == 403  # content is for communications staff
    created = cadre.post("/studio/links", data={"csrf": csrf_of(page.text), "organisation": "cuu_chien_binh",
                                                "commune_id": str(place["commune"]["id"]), "label": "Thôn Bản Chắt"},
                         follow_redirects=False)
    assert created.status_code == 303
    code = created.headers["location"].split("created=")[1].split("#")[0]
    assert code.startswith("CCB-")
    page = cadre.get("/studio/links")
    assert f"/r/{code}" in page.text and "Sao chép tin nhắn" in page.text and "MIỄN PHÍ" in page.text
    svg = cadre.get(f"/studio/links/{code}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert cadre.get(f"/studio/links/{code}/qr.png").content[:4] == b"\x89PNG"
    bad = cadre.post("/studio/links", data={"csrf": csrf_of(page.text), "organisation": "", "commune_id": "x"})
    assert bad.status_code == 422 and "Xin chọn tổ chức" in bad.text
    off = cadre.post(f"/studio/links/{code}/toggle", data={"csrf": csrf_of(page.text), "active": "0"},
                     follow_redirects=False)
    assert off.status_code == 303 and "đã tắt" in cadre.get("/studio/links").text
    # Another cadre sees none of it; editors cannot open the page; admins see the totals.
    other = studio_login("cadre")
    assert code not in other.get("/studio/links").text
    assert other.get(f"/studio/links/{code}/qr.png").status_code == 404
    assert studio_login("editor").get("/studio/links").status_code == 403
    admin_page = studio_login("admin").get("/studio/links").text
    assert 'id="by-organisation"' in admin_page and "Hội Cựu chiến binh" in admin_page
    station = studio_login("station", commune_id=place["commune"]["id"]).get("/studio/links").text
    assert code in station and "Tạo đường dẫn mới" not in station


def test_a_cadre_books_for_an_elderly_person_with_their_consent_recorded(
        client: TestClient, place: dict[str, Any], staff_token: Any, database: Any) -> None:
    from sqlalchemy import select

    from api.audit.models import AuditEntry
    from api.consent.models import Consent

    cadre = staff_token("cadre")
    body = {"session_id": place["session"]["id"], "resident": person(place["commune"]["id"], index=5),
            "consent_notice": "2026-01.staff", "consent_method": "in_person"}
    assert client.post("/api/v1/bookings/on-behalf", json=body).status_code == 401
    assert client.post("/api/v1/bookings/on-behalf", json=body, headers=staff_token("editor")).status_code == 403
    assert client.post("/api/v1/bookings/on-behalf", json={**body, "consent_method": "guessed"},
                       headers=cadre).status_code == 422
    booked = client.post("/api/v1/bookings/on-behalf", json=body, headers=cadre)
    assert booked.status_code == 201, booked.text
    # A relative in the chat answers for the person: that is filed too.
    relative = client.post("/api/v1/bookings", headers={"Idempotency-Key": "relative-booking-1"}, json={
        "session_id": place["session"]["id"], "resident": person(place["commune"]["id"], index=6),
        "consent_notice": "2026-01.abcdef", "consent_given_by": "relative", "channel": "zalo"})
    assert relative.status_code == 201, relative.text
    with database.read() as db:
        consents = {(c.given_by, c.method, bool(c.recorded_by)) for c in db.scalars(select(Consent))}
        audited = db.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "booking.on_behalf")).all()
    assert consents == {("cadre", "in_person", True), ("relative", "chat", False)}
    assert audited == [booked.json()["code"]]


def test_the_booking_page_for_cadres(studio_login: Any, place: dict[str, Any], database: Any) -> None:
    from sqlalchemy import select

    from api.consent.models import Consent

    cadre = studio_login("cadre")
    page = cadre.get("/studio/book", params={"commune_id": place["commune"]["id"]})
    assert page.status_code == 200 and "còn 5 chỗ" in page.text
    resident = person(place["commune"]["id"], index=9)
    form = {"csrf": csrf_of(page.text), "commune_id": str(place["commune"]["id"]),
            "session_id": str(place["session"]["id"]), "full_name": resident["full_name"],
            "birth_date": resident["birth_date"], "cccd": resident["cccd"], "phone": resident["phone"],
            "consent_method": "phone"}
    refused = cadre.post("/studio/book", data=form)  # the consent statement was not ticked
    assert refused.status_code == 422 and "đồng ý" in refused.text
    done = cadre.post("/studio/book", data={**form, "consent_confirmed": "on"})
    assert done.status_code == 200 and "Mã đặt lịch" in done.text and resident["cccd"] not in done.text
    again = cadre.post("/studio/book", data={**form, "consent_confirmed": "on"})
    assert again.status_code == 409 and "lịch" in again.text  # one active booking per person
    with database.read() as db:
        assert db.scalar(select(Consent.method).where(Consent.given_by == "cadre")) == "phone"
    assert studio_login("editor").get("/studio/book").status_code == 403
