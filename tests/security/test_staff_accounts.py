"""Staff accounts as an attacker on the internet meets them (issue 15, point 6): station accounts
bound to their commune, login brute force stopped and audited, tokens that end on logout and on a
new password, and a second factor (TOTP) that cannot be replayed. Every attack is replayed through
HTTP and the number of requests it gets before it is stopped is asserted."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.audit.models import AuditEntry
from api.communes.service import StationWithoutCommune, check_station_scope
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.main import create_app
from api.security import login as logins
from api.staff import totp
from api.staff.models import StaffUser
from api.staff.security import hash_password, issue_token
from api.staff.service import create_staff
from tests.support.servers import api_env, app_in_thread
from tests.support.world import World, future

PASSWORD = "mat-khau-dung-123"
TOKEN = "/api/v1/auth/token"


def account(database: Database, role: str = "admin", commune_id: int | None = None) -> str:
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    with database.write() as db:
        create_staff(db=db, actor=None, username=username, password=PASSWORD, role=role, commune_id=commune_id)
    return username


def log_in(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(TOKEN, data={"username": username, "password": password, **extra})


def bearer(response: Any) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def browser(settings: Settings, database: Database, peer: str = "203.0.113.10") -> TestClient:
    return TestClient(create_app(settings, database), raise_server_exceptions=False, client=(peer, 50000))


def audit_rows(database: Database, action: str) -> list[AuditEntry]:
    with database.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# --- station accounts and their commune ---------------------------------------------------------------

def test_a_station_account_cannot_be_made_without_a_commune(
        client: TestClient, world: World, database: Database, settings: Settings) -> None:
    commune = world.commune()
    admin = world.admin
    refused = client.post("/api/v1/staff", headers=admin,
                          json={"username": "tram.moi", "password": PASSWORD, "role": "station"})
    assert refused.status_code == 422 and refused.json()["code"] == "station_commune_required"
    assert "xã/phường" in refused.json()["message"]
    made = client.post("/api/v1/staff", headers=admin, json={"username": "tram.moi", "password": PASSWORD,
                                                              "role": "station", "commune_id": commune["id"]})
    assert made.status_code == 201
    cadre = client.post("/api/v1/staff", headers=admin,
                        json={"username": "can.bo", "password": PASSWORD, "role": "cadre"}).json()
    for user_id, change in ((made.json()["id"], {"commune_id": None}), (cadre["id"], {"role": "station"})):
        response = client.patch(f"/api/v1/staff/{user_id}", headers=admin, json=change)
        assert response.status_code == 422 and response.json()["code"] == "station_commune_required"
    moved = client.patch(f"/api/v1/staff/{cadre['id']}", headers=admin,
                         json={"role": "station", "commune_id": commune["id"]})
    assert moved.status_code == 200 and moved.json()["role"] == "station"
    # Switching a broken account off stays possible.
    assert client.patch(f"/api/v1/staff/{made.json()['id']}", headers=admin,
                        json={"commune_id": None, "active": False}).status_code == 200

    env = api_env(settings.database_url)
    cli = subprocess.run([sys.executable, "-m", "api", "create-staff", "--username", "tram.cli", "--password",
                          PASSWORD, "--role", "station"], env=env, capture_output=True, text=True)
    assert cli.returncode != 0 and "xã/phường" in cli.stderr
    cli = subprocess.run([sys.executable, "-m", "api", "create-staff", "--username", "tram.cli", "--password",
                          PASSWORD, "--role", "station", "--commune-id", str(commune["id"])],
                         env=env, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr


def test_an_old_station_account_without_a_commune_sees_and_changes_nothing(
        client: TestClient, world: World, database: Database, settings: Settings) -> None:
    commune = world.commune()
    site = world.site(commune["id"])
    session = world.session(site["id"])
    with database.write() as db:  # a row from before the rule
        legacy = StaffUser(username="tram.cu", password_hash=hash_password(PASSWORD), role="station")
        db.add(legacy)
        db.flush()
        legacy_id = legacy.id
    refused = log_in(client, "tram.cu")
    assert refused.status_code == 403 and refused.json()["code"] == "station_without_commune"

    # A token it already held before the rule is refused everywhere a station may go.
    crypto = Crypto.from_settings(settings)
    token = issue_token(key=crypto.token_key, user_id=legacy_id, role="station", version=0, minutes=30)
    headers = {"Authorization": f"Bearer {token}"}
    starts = future(5)
    attempts = [
        ("GET", f"/api/v1/sessions/{session['id']}/bookings", None),
        ("GET", f"/api/v1/sessions/{session['id']}/bookings.csv", None),
        ("PATCH", f"/api/v1/sessions/{session['id']}", {"capacity": 99}),
        ("POST", "/api/v1/sessions", {"site_id": site["id"], "starts_at": starts.isoformat(),
                                      "ends_at": starts.replace(hour=11).isoformat(), "capacity": 5}),
        ("POST", "/api/v1/sites", {"commune_id": commune["id"], "name": "Điểm mới", "kind": "mobile"}),
        ("PATCH", f"/api/v1/sites/{site['id']}", {"active": False}),
        ("GET", "/api/v1/records", None),
        ("GET", "/api/v1/reports/scam", None),
        ("GET", "/api/v1/auth/me", None),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "station_without_commune", (method, path)
    imported = client.post("/api/v1/records/import", headers=headers,
                           files={"file": ("a.csv", b"cccd,ngay_sinh,trang_thai\n", "text/csv")})
    assert imported.status_code == 403

    pages = browser(settings, database)
    pages.cookies.set("ksk_staff", token, path="/studio")
    for path in ("/studio/links", "/studio/book", "/studio/broadcasts", "/studio/reports"):
        page = pages.get(path)
        assert page.status_code == 403 and "chưa được gắn với xã/phường" in page.text, path
    with pytest.raises(StationWithoutCommune):
        check_station_scope(StaffUser(role="station", commune_id=None), commune["id"])


def test_a_station_of_one_commune_cannot_write_another_communes_sites_or_sessions(
        client: TestClient, world: World, database: Database) -> None:
    mine, theirs = world.commune("Hữu Liên"), world.commune("Thiện Tân")
    my_site, their_site = world.site(mine["id"]), world.site(theirs["id"])
    their_session = world.session(their_site["id"])
    station = bearer(log_in(client, account(database, "station", mine["id"])))
    starts = future(6)
    new_session = {"starts_at": starts.isoformat(), "ends_at": starts.replace(hour=11).isoformat(), "capacity": 5}
    refused = [
        client.post("/api/v1/sites", headers=station,
                    json={"commune_id": theirs["id"], "name": "Điểm", "kind": "mobile"}),
        client.patch(f"/api/v1/sites/{their_site['id']}", headers=station, json={"active": False}),
        client.post("/api/v1/sessions", headers=station, json={"site_id": their_site["id"], **new_session}),
        client.patch(f"/api/v1/sessions/{their_session['id']}", headers=station, json={"status": "cancelled"}),
        client.get(f"/api/v1/sessions/{their_session['id']}/bookings", headers=station),
        client.get(f"/api/v1/sessions/{their_session['id']}/bookings.csv", headers=station),
    ]
    assert [r.status_code for r in refused] == [403] * 6, [r.text for r in refused]
    assert {r.json()["code"] for r in refused} == {"forbidden"}
    with database.read() as db:
        status = db.execute(text("SELECT status FROM exam_sessions WHERE id = :id"), {"id": their_session["id"]})
        assert status.scalar_one() == "open"
    # Its own commune works.
    assert client.post("/api/v1/sessions", headers=station,
                       json={"site_id": my_site["id"], **new_session}).status_code == 201
    assert client.patch(f"/api/v1/sites/{my_site['id']}", headers=station, json={"phone": "0205 3888 999"}
                        ).status_code == 200


# --- login brute force ------------------------------------------------------------------------------------

def test_password_guessing_on_one_username_stops_after_five_failures(
        client: TestClient, database: Database, settings: Settings) -> None:
    target = account(database)
    answers = [log_in(client, target, f"doan-{n:04d}") for n in range(8)]
    codes = [a.status_code for a in answers]
    assert codes == [401] * settings.login_user_failures + [429] * 3, codes
    locked = answers[-1]
    assert locked.json()["code"] == "too_many_login_attempts" and "thử lại" in locked.json()["message"]
    assert 0 < int(locked.headers["Retry-After"]) <= settings.login_lockout_minutes * 60 + 1
    # While locked, even the right password is not checked (nothing to learn from the answer).
    assert log_in(client, target).status_code == 429
    # A name nobody has is locked out the same way: the lockout says nothing about who exists.
    ghost = [log_in(client, "khong-ai-ca", f"doan-{n}").status_code for n in range(6)]
    assert ghost == [401] * 5 + [429]

    # An admin lifts the lockout of their colleague's name.
    admin = bearer(log_in(client, account(database)))
    with database.read() as db:
        target_id = db.scalar(select(StaffUser.id).where(StaffUser.username == target))
    assert client.post(f"/api/v1/staff/{target_id}/unlock", headers=admin).status_code == 204
    assert log_in(client, target).status_code == 200


@pytest.mark.slow
def test_parallel_guesses_cannot_slip_past_the_limit(settings: Settings, database: Database) -> None:
    """Twenty guesses sent at once to a real server: each is counted before its password is checked,
    so exactly five are answered and the rest are refused."""
    target = account(database)
    with (app_in_thread(create_app(settings, database)) as base, httpx.Client(base_url=base, timeout=30) as http,
          ThreadPoolExecutor(max_workers=20) as pool):
        answers = list(pool.map(lambda n: http.post(TOKEN, data={"username": target, "password": f"doan-{n}"}),
                                range(20)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * settings.login_user_failures + [429] * (20 - settings.login_user_failures), codes


def test_guessing_across_many_usernames_from_one_address_stops_after_twenty(
        settings: Settings, database: Database) -> None:
    real = account(database)
    attacker = browser(settings, database, peer="198.51.100.23")
    codes = []
    for n in range(24):  # four names, never more than four tries each: only the address rule can stop it
        codes.append(log_in(attacker, f"ten-{n % 6}", "doan-mat-khau").status_code)
    assert codes == [401] * settings.login_address_failures + [429] * 4, codes
    # Even a real account's right password is refused from that address...
    assert log_in(attacker, real).status_code == 429
    # ...while the owner, elsewhere, logs in.
    assert log_in(browser(settings, database, peer="192.0.2.44"), real).status_code == 200


def test_a_spoofed_x_forwarded_for_does_not_change_the_counted_address(
        settings: Settings, database: Database) -> None:
    direct = browser(settings, database, peer="198.51.100.99")
    codes = [direct.post(TOKEN, data={"username": f"ten-{n % 6}", "password": "sai"},
                         headers={"X-Forwarded-For": f"10.0.{n}.1"}).status_code for n in range(22)]
    # A new made-up address each time, yet all are counted against the one real peer.
    assert codes == [401] * 20 + [429] * 2, codes

    # Through our nginx (a trusted proxy), the address nginx saw is the one counted, not what the
    # client put in front of it.
    proxy = browser(settings, database, peer="127.0.0.1")
    via_nginx = [proxy.post(TOKEN, data={"username": f"qua-{n % 6}", "password": "sai"},
                            headers={"X-Forwarded-For": f"10.9.{n}.1, 203.0.113.77"}).status_code for n in range(21)]
    assert via_nginx == [401] * 20 + [429]
    other_client = proxy.post(TOKEN, data={"username": account(database), "password": PASSWORD},
                              headers={"X-Forwarded-For": "203.0.113.78"})
    assert other_client.status_code == 200


def test_unknown_username_and_wrong_password_take_the_same_time(
        settings: Settings, database: Database) -> None:
    real = account(database)
    client = browser(settings.model_copy(update={"login_user_failures": 50, "login_address_failures": 50}), database)
    wrong, unknown = [], []
    for n in range(6):
        for bucket, name in ((wrong, real), (unknown, f"khong-co-{n}")):
            started = time.perf_counter()
            response = log_in(client, name, f"sai-{n}")
            bucket.append(time.perf_counter() - started)
            assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    # Both pay one scrypt; without the dummy hash the unknown name would answer several times faster.
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2, (statistics.median(unknown), statistics.median(wrong))


def test_every_login_is_audited_without_passwords_or_typed_usernames(
        client: TestClient, database: Database) -> None:
    real = account(database)
    secret_typed_as_name = "MatKhauBiMat-2026!"
    log_in(client, secret_typed_as_name, "mot-mat-khau-khac")
    log_in(client, real, "mat-khau-sai-roi")
    log_in(client, real)
    rows = audit_rows(database, "staff.login")
    assert [r.detail["outcome"] for r in rows] == ["invalid_credentials", "invalid_credentials", "success"]
    assert rows[-1].actor == real and rows[-1].actor_id is not None
    assert rows[0].actor == "anonymous" and len(rows[0].detail["username_hash"]) == 16
    assert rows[0].detail["username_hash"] != rows[1].detail["username_hash"]
    with database.read() as db:
        everything = " ".join(str(row) for row in db.execute(text("SELECT * FROM audit_log")))
    for never in (secret_typed_as_name, "mot-mat-khau-khac", "mat-khau-sai-roi", PASSWORD, "testclient"):
        assert never not in everything


def test_the_studio_login_form_shares_the_counters(
        settings: Settings, database: Database, client: TestClient) -> None:
    target = account(database, "editor")
    pages = browser(settings, database, peer="testclient")
    answers = [pages.post("/studio/login", data={"username": target, "password": "sai-mat-khau"},
                          follow_redirects=False) for _ in range(3)]
    assert [a.status_code for a in answers] == [401] * 3
    # Two more through the API: five in all on that name.
    assert [log_in(client, target, "sai").status_code for _ in range(2)] == [401, 401]
    page = pages.post("/studio/login", data={"username": target, "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 429 and "Đăng nhập sai quá nhiều lần" in page.text and page.headers["Retry-After"]
    assert {r.detail["via"] for r in audit_rows(database, "staff.login")} == {"api", "studio"}


# --- tokens that end ------------------------------------------------------------------------------------

def test_a_token_stops_working_after_logout_and_after_a_new_password(
        client: TestClient, database: Database, settings: Settings) -> None:
    username = account(database, "editor")
    first, second = bearer(log_in(client, username)), bearer(log_in(client, username))
    assert client.get("/api/v1/auth/me", headers=first).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=first).status_code == 204
    after = client.get("/api/v1/auth/me", headers=first)
    assert after.status_code == 401 and after.json()["code"] == "session_ended"
    assert client.get("/api/v1/auth/me", headers=second).status_code == 200  # the other device stays

    # Own change: the old password is asked (wrong answers count), every old session ends.
    wrong = client.post("/api/v1/auth/password", headers=second,
                        json={"current_password": "khong-phai", "new_password": "mat-khau-moi-456"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "wrong_current_password"
    changed = client.post("/api/v1/auth/password", headers=second,
                          json={"current_password": PASSWORD, "new_password": "mat-khau-moi-456"})
    fresh = bearer(changed)
    assert client.get("/api/v1/auth/me", headers=second).json()["code"] == "session_ended"
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 200
    assert log_in(client, username).status_code == 401

    # The admin's reset: the staff member's tokens (API and studio cookie) end too.
    pages = browser(settings, database)
    assert pages.post("/studio/login", data={"username": username, "password": "mat-khau-moi-456"},
                      follow_redirects=False).status_code == 303
    assert pages.get("/studio/faq", follow_redirects=False).status_code == 200
    admin = bearer(log_in(client, account(database)))
    with database.read() as db:
        user_id = db.scalar(select(StaffUser.id).where(StaffUser.username == username))
    assert client.patch(f"/api/v1/staff/{user_id}", headers=admin, json={"password": "dat-lai-789-abc"}
                        ).status_code == 200
    assert client.get("/api/v1/auth/me", headers=fresh).json()["code"] == "session_ended"
    assert pages.get("/studio/faq", follow_redirects=False).headers["location"] == "/studio/login"


def test_studio_logout_ends_the_cookie_even_if_a_copy_was_kept(settings: Settings, database: Database) -> None:
    username = account(database, "editor")
    pages = browser(settings, database)
    pages.post("/studio/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    stolen = pages.cookies.get("ksk_staff")
    assert stolen and pages.get("/studio/faq", follow_redirects=False).status_code == 200
    assert pages.post("/studio/logout", follow_redirects=False).status_code == 303
    thief = browser(settings, database, peer="198.51.100.5")
    thief.cookies.set("ksk_staff", stolen, path="/studio")
    assert thief.get("/studio/faq", follow_redirects=False).headers["location"] == "/studio/login"
    api = thief.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {stolen}"})
    assert api.status_code == 401 and api.json()["code"] == "session_ended"


# --- second factor ---------------------------------------------------------------------------------------

@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    now = [1_800_000_015.0]  # 15 s into a 30 s step
    monkeypatch.setattr(logins, "clock", lambda: now[0])

    def move(seconds: float) -> None:
        now[0] += seconds

    return move


def test_an_admin_enrols_totp_and_codes_cannot_be_replayed(
        database: Database, settings: Settings, frozen_clock: Callable[[float], None]) -> None:
    # Six refusals on one name below: a looser limit keeps the lockout (tested next) from hiding them.
    settings = settings.model_copy(update={"login_user_failures": 10})
    client = browser(settings, database)
    username = account(database, "admin")
    session = bearer(log_in(client, username))
    setup = client.post("/api/v1/auth/totp/setup", headers=session)
    assert setup.status_code == 200
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/") and "<svg" in setup.json()["qr_svg"]
    with database.read() as db:
        stored = db.scalar(select(StaffUser).where(StaffUser.username == username))
        assert stored is not None and stored.totp_secret_enc and secret not in stored.totp_secret_enc
        assert Crypto.from_settings(settings).decrypt(stored.totp_secret_enc) == secret

    now = totp.step_of(logins.clock())

    def code(offset: int = 0) -> str:
        return totp.code_at(secret, now + offset)

    # Not yet confirmed: the password alone still logs in.
    assert log_in(client, username).status_code == 200
    wrong = client.post("/api/v1/auth/totp/confirm", headers=session, json={"code": "000000"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "totp_code_wrong"
    assert client.post("/api/v1/auth/totp/confirm", headers=session, json={"code": code(-1)}).json() == {
        "totp_enabled": True}

    missing = log_in(client, username)
    assert missing.status_code == 401 and missing.json()["code"] == "totp_required"
    assert log_in(client, username, totp="123456" if code() != "123456" else "654321").json()["code"] == "totp_invalid"
    assert log_in(client, username, totp=code()).status_code == 200
    # Replayed (here as client_secret, the field OAuth2 clients have): refused.
    replay = log_in(client, username, client_secret=code())
    assert replay.status_code == 401 and replay.json()["code"] == "totp_reused"

    # The studio asks for it too, and refuses the replay the same way.
    pages = browser(settings, database)
    asked = pages.post("/studio/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert asked.status_code == 401 and 'id="totp"' in asked.text and "mã xác thực" in asked.text
    assert pages.post("/studio/login", data={"username": username, "password": PASSWORD, "totp": code(+1)},
                      follow_redirects=False).status_code == 303
    assert pages.post("/studio/login", data={"username": username, "password": PASSWORD, "totp": code(+1)},
                      follow_redirects=False).status_code == 401

    # Turning it off needs a code not used before.
    frozen_clock(60)
    used = client.request("DELETE", "/api/v1/auth/totp", headers=session, json={"code": code(+1)})
    assert used.status_code == 422 and used.json()["code"] == "totp_code_wrong"
    assert client.request("DELETE", "/api/v1/auth/totp", headers=session, json={"code": code(+2)}).json() == {
        "totp_enabled": False}
    assert log_in(client, username).status_code == 200
    assert [r.detail["outcome"] for r in audit_rows(database, "staff.totp_disable")] == ["totp_code_wrong", "success"]


def test_guessing_second_factor_codes_stops_after_five_and_an_admin_can_reset_a_lost_phone(
        client: TestClient, database: Database, frozen_clock: Callable[[float], None]) -> None:
    username = account(database, "admin")
    session = bearer(log_in(client, username))
    secret = client.post("/api/v1/auth/totp/setup", headers=session).json()["secret"]
    now = totp.step_of(logins.clock())
    assert client.post("/api/v1/auth/totp/confirm", headers=session,
                       json={"code": totp.code_at(secret, now)}).status_code == 200
    right = {totp.code_at(secret, now + d) for d in (-1, 0, 1)}
    guesses = [f"{n:06d}" for n in range(100) if f"{n:06d}" not in right][:7]
    codes = [log_in(client, username, totp=g).status_code for g in guesses]
    assert codes == [401] * 5 + [429] * 2, codes
    assert client.post("/api/v1/auth/totp/setup", headers=session).json()["code"] == "totp_already_enabled"

    other_admin = bearer(log_in(client, account(database)))
    with database.read() as db:
        user_id = db.scalar(select(StaffUser.id).where(StaffUser.username == username))
    reset = client.patch(f"/api/v1/staff/{user_id}", headers=other_admin, json={"totp_enabled": False})
    assert reset.status_code == 200 and reset.json()["totp_enabled"] is False
    client.post(f"/api/v1/staff/{user_id}/unlock", headers=other_admin)
    assert log_in(client, username).status_code == 200
