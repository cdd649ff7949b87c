"""The smaller doors of issue 15: funnels, speech files, the demo's password file, access logs."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.audio.speech import purge_speech
from api.core.logs import DropQueryStrings
from api.demo import demo_admin_file
from tests.support.env import chat_headers
from tests.support.world import World, person


def test_a_booking_through_a_switched_off_or_made_up_link_counts_in_no_funnel(
        client: TestClient, world: World, staff_token: Any) -> None:
    commune = world.commune()
    session = world.session(world.site(commune["id"])["id"], capacity=10)
    cadre = staff_token("cadre")
    link = client.post("/api/v1/referrals", headers=cadre, json={"organisation": "phu_nu",
                                                                  "commune_id": commune["id"]}).json()

    def book(referral: str, chat: str) -> Any:
        return client.post("/api/v1/bookings", headers=chat_headers(sender=chat), json={
            "session_id": session["id"], "resident": person(commune["id"]), "referral_code": referral}).json()

    assert book(link["code"], "a")["referral_code"] == link["code"]
    assert client.patch(f"/api/v1/referrals/{link['code']}", headers=cadre, json={"active": False}).status_code == 200
    assert book(link["code"], "b")["referral_code"] is None
    assert book("MADEUP99", "c")["referral_code"] is None
    links = client.get("/api/v1/referrals", headers=cadre).json()["items"]
    assert [item["funnel"]["booked"] for item in links] == [1]


def test_speech_nobody_asked_for_lately_is_purged_and_recordings_stay(tmp_path: Path) -> None:
    old, fresh, recording = tmp_path / "tts-old.mp3", tmp_path / "tts-new.ogg", tmp_path / "clip-tyz-1.mp3"
    for path in (old, fresh, recording):
        path.write_bytes(b"x")
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    os.utime(recording, (month_ago, month_ago))
    assert purge_speech(tmp_path, older_than_s=30 * 86400) == 1
    assert not old.exists() and fresh.exists() and recording.exists()


def test_a_throwaway_database_does_not_overwrite_the_demos_admin_password() -> None:
    from api.core.config import VAR_DIR, Settings

    default = Settings.model_fields["database_url"].default
    assert demo_admin_file(default) == VAR_DIR / "demo-admin.txt"
    other = demo_admin_file("postgresql+psycopg://postgres@127.0.0.1/throwaway")
    assert other != VAR_DIR / "demo-admin.txt" and other.parent == VAR_DIR


def test_access_logs_keep_no_booking_code_or_query() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", "/api/v1/bookings/KE3MX7PA?x=0912345678", "1.1", 200), None)
    DropQueryStrings().filter(record)
    line = record.getMessage()
    assert "KE3MX7PA" not in line and "0912345678" not in line and "/api/v1/bookings/***" in line


def test_access_logs_keep_no_recording_invitation_secret() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "POST", "/studio/voice/Zq8_secret-Link/takes", "1.1", 201), None)
    DropQueryStrings().filter(record)
    line = record.getMessage()
    assert "Zq8_secret-Link" not in line and "/studio/voice/***/takes" in line
