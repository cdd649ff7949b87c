"""The recording campaign's staff pages: who may open them, invitations (the link shown once and working,
revoked, refused when wrong), the review queue (listen, accept publishes, reject needs a reason and deletes,
a take decided twice is a conflict), the campaign's counts and the printable sheet — on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.audio import service as audio
from api.consent.service import notice_fingerprint
from api.content.service import text_hash
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.recording import invitations, offers, takes
from api.recording.models import RecordingInvitation, Take
from tests.support.world import World, csrf_of

Login = Callable[..., TestClient]
HOME = "/studio/recording"
LINK = re.compile(r'id="invitation-link"[^>]*value="([^"]+)"')
# What the pages' Content-Security-Policy would block (tests/security/test_web_hardening.py): none of it.
INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<[^>]+\son[a-z]+\s*=|<style|\sstyle\s*=", re.IGNORECASE)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (make setup-system)")


@pytest.fixture
def login(studio_login: Login, seeded_content: Database) -> Login:
    return studio_login


@pytest.fixture
def crypto(settings: Settings) -> Crypto:
    return Crypto.from_settings(settings)


def invite(browser: TestClient, **fields: str) -> tuple[Any, str | None]:
    """Posts the campaign page's form; returns the answer and the link it shows (None when refused)."""
    csrf = csrf_of(browser.get(HOME).text)
    form = {"csrf": csrf, "purpose": "record", "language": "tyz", "days": "14", "max_people": "20",
            "label": "Cô giáo Lý Thị Mai, Hữu Liên", "keys": "", **fields}
    page = browser.post(f"{HOME}/invitations", data=form)
    found = LINK.search(page.text)
    return page, found.group(1) if found else None


def token_of(link: str) -> str:
    assert "/studio/voice/" in link, link
    return link.rsplit("/", 1)[1]


def invitation_id(database: Database, crypto: Crypto, token: str) -> int:
    with database.read() as db:
        return invitations.open_invitation(db, token).id


def sine(tmp_path: Path, seconds: float = 1.5) -> bytes:
    path = tmp_path / f"{uuid.uuid4().hex}.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=300:duration={seconds}:sample_rate=16000", str(path)], check=True)
    return path.read_bytes()


def recorded_take(database: Database, settings: Settings, crypto: Crypto, token: str, wav: bytes,
                  name: str = "Lý Thị Mai", phone: str = "0912345678") -> Take:
    """A volunteer joins through `token` and records the first message their language still needs."""
    recording = audio.normalise(settings, wav)
    with database.write() as db:
        invitation = invitations.open_invitation(db, token)
        volunteer, _secret = invitations.join(
            db, crypto, invitation, name=name, phone=phone, agreed=True,
            notice_version=notice_fingerprint(invitations.notice_text(db, invitation.purpose)))
        key, text, _state = offers.wanted(db, invitation.language)[0]
        return takes.submit_take(db, settings, crypto, volunteer, key=key, source_hash=text_hash(text),
                                   upload_id=uuid.uuid4().hex, recording=recording)


def cell(page: str, language: str, column: str) -> str:
    row = page.split(f'id="language-{language}"')[1].split("</tr>")[0]
    found = re.search(rf'<td class="{column}">([^<]+)</td>', row)
    assert found, (language, column)
    return found.group(1)


# --- who may open the pages -----------------------------------------------------------------------------

def test_only_editors_and_admins_open_the_pages_and_forms_need_the_pages_token(
        login: Login, client: TestClient, world: World, database: Database) -> None:
    gets = (HOME, f"{HOME}/review", f"{HOME}/review?language=tyz", f"{HOME}/sheet?language=tyz",
            f"{HOME}/takes/1.mp3")
    posts = (f"{HOME}/invitations", f"{HOME}/invitations/1/revoke", f"{HOME}/takes/1/accept",
             f"{HOME}/takes/1/reject")
    anonymous = TestClient(client.app, raise_server_exceptions=False)
    for path in gets + posts:
        method = anonymous.get if path in gets else anonymous.post
        refused = method(path, follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"] == "/studio/login", path
    for role in ("cadre", "station"):
        browser = login(role, commune_id=world.commune()["id"] if role == "station" else None)
        assert 'href="/studio/recording"' not in browser.get("/studio/links").text, role
        for path in gets:
            page = browser.get(path)
            assert page.status_code == 403 and "không có quyền" in page.text, (role, path)
        for path in posts:
            assert browser.post(path, data={"csrf": "x", "language": "tyz", "purpose": "record"}
                                ).status_code == 403, (role, path)
    for role in ("editor", "admin"):
        page = login(role).get(HOME)
        assert page.status_code == 200 and 'href="/studio/recording"' in page.text, role
        assert not INLINE_CODE.search(page.text)
    editor = login("editor")
    forged = editor.post(f"{HOME}/invitations", data={"csrf": "0" * 40, "purpose": "record", "language": "tyz",
                                                      "days": "14", "max_people": "20"})
    assert forged.status_code == 403 and "tải lại trang" in forged.text
    with database.read() as db:
        assert db.scalar(select(func.count(RecordingInvitation.id))) == 0


# --- invitations ------------------------------------------------------------------------------------------

def test_a_new_invitations_link_is_shown_once_and_opens_until_revoked(
        login: Login, database: Database, crypto: Crypto) -> None:
    editor = login("editor")
    page, link = invite(editor, label="Chi hội phụ nữ Nà Pàn")
    assert page.status_code == 200 and link, page.text[:500]
    assert "chỉ hiện một lần" in page.text and page.headers["cache-control"] == "no-store"
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page.text)
    assert not INLINE_CODE.search(page.text)
    token = token_of(link)
    number = invitation_id(database, crypto, token)
    with database.read() as db:
        stored = db.get_one(RecordingInvitation, number)
        assert (stored.purpose, stored.language, stored.max_people) == ("record", "tyz", 20)
        assert token not in stored.token_hash
    # Listed on the campaign page, without the link (it is not kept), with its revoke button.
    page = editor.get(HOME).text
    row = page.split(f'id="invitation-{number}"')[1].split("</tr>")[0]
    assert "Chi hội phụ nữ Nà Pàn" in row and "0/20" in row and "Thu hồi" in row and token not in page
    revoked = editor.post(f"{HOME}/invitations/{number}/revoke", data={"csrf": csrf_of(page)},
                          follow_redirects=False)
    assert revoked.status_code == 303 and revoked.headers["location"].startswith(HOME)
    after = editor.get(revoked.headers["location"]).text
    assert "Đã thu hồi lời mời" in after and "đã thu hồi" in after.split(f'id="invitation-{number}"')[1]
    with database.read() as db, pytest.raises(invitations.InvitationUnusable):
        invitations.open_invitation(db, token)
    # A review invitation with a few chosen messages.
    _page, review_link = invite(editor, purpose="review", language="hmn", keys="what_to_bring\r\n\r\n")
    assert review_link
    with database.read() as db:
        opened = invitations.open_invitation(db, token_of(review_link))
        assert (opened.purpose, opened.language, opened.keys) == ("review", "hmn", "what_to_bring")


@pytest.mark.parametrize("fields", [{"language": "xx"}, {"days": "0"}, {"days": "91"}, {"days": "mười"},
                                    {"max_people": "0"}, {"purpose": "listen"},
                                    {"purpose": "review", "language": "vi"}])
def test_a_wrong_invitation_is_refused_in_vietnamese(login: Login, database: Database,
                                                     fields: dict[str, str]) -> None:
    page, link = invite(login("editor"), **fields)
    assert page.status_code == 422 and link is None, page.text[:300]
    assert "Lời mời chưa đúng" in page.text and "Chưa lưu được" in page.text
    with database.read() as db:
        assert db.scalar(select(func.count(RecordingInvitation.id))) == 0


def test_an_invitation_for_unknown_messages_names_them(login: Login) -> None:
    page, link = invite(login("editor"), keys="what_to_bring\nkhong_co_cau_nay")
    assert page.status_code == 422 and link is None and "khong_co_cau_nay" in page.text


# --- review -------------------------------------------------------------------------------------------------

@needs_ffmpeg
def test_a_take_is_heard_and_accepted_and_then_what_residents_hear(
        login: Login, client: TestClient, database: Database, settings: Settings, crypto: Crypto,
        tmp_path: Path) -> None:
    editor = login("editor")
    _page, link = invite(editor)
    assert link
    before = editor.get(HOME).text
    missing = int(cell(before, "tyz", "missing"))
    take = recorded_take(database, settings, crypto, token_of(link), sine(tmp_path))
    page = editor.get(HOME).text
    assert cell(page, "tyz", "in-review") == "1" and "Lý Thị Mai" in page
    row = page.split('id="volunteer-')[1].split("</tr>")[0]
    assert "Tày" in row and "0912345678" not in page

    queue = editor.get(f"{HOME}/review", params={"language": "tyz"})
    assert queue.status_code == 200 and f'id="take-{take.id}"' in queue.text
    assert f'src="/studio/recording/takes/{take.id}.mp3"' in queue.text and "Nhận, cho phát" in queue.text
    assert not INLINE_CODE.search(queue.text)
    with database.read() as db:
        assert offers.recordable_texts(db)[take.key] in queue.text
    assert f'id="take-{take.id}"' not in editor.get(f"{HOME}/review", params={"language": "hmn"}).text
    assert f'id="take-{take.id}"' in editor.get(f"{HOME}/review").text
    heard = editor.get(f"{HOME}/takes/{take.id}.mp3")
    assert heard.status_code == 200 and heard.headers["content-type"] == "audio/mpeg"
    assert heard.headers["cache-control"] == "no-store" and len(heard.content) > 1000
    assert heard.content[:3] == b"ID3" or heard.content[0] == 0xFF

    csrf = csrf_of(queue.text)
    done = editor.post(f"{HOME}/takes/{take.id}/accept", data={"csrf": csrf, "language": "tyz"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{HOME}/review?language=tyz&done=accept"
    assert "Đã nhận bản thu" in editor.get(done.headers["location"]).text
    with database.read() as db:
        cells = {key: cells for key, _kind, _text, cells in audio.coverage(db)}
    assert cells[take.key]["tyz"] == "recorded"
    heard_by_residents = client.get("/api/v1/audio/for", params={"key": take.key, "lang": "tyz"})
    assert heard_by_residents.status_code == 200 and heard_by_residents.json()["language"] == "tyz"
    after = editor.get(HOME).text
    assert int(cell(after, "tyz", "missing")) == missing - 1 and cell(after, "tyz", "in-review") == "0"
    assert cell(after, "tyz", "recorded").startswith("1/")
    # Published: no longer waiting, no longer served from the review's files, and not decided twice.
    assert editor.get(f"{HOME}/takes/{take.id}.mp3").status_code == 404
    again = editor.post(f"{HOME}/takes/{take.id}/accept", data={"csrf": csrf})
    assert again.status_code == 409 and "đã được duyệt" in again.text
    again = editor.post(f"{HOME}/takes/{take.id}/reject", data={"csrf": csrf, "reason": "nhiều tiếng ồn"})
    assert again.status_code == 409 and "đã được duyệt" in again.text


@needs_ffmpeg
def test_a_rejection_needs_a_reason_and_deletes_the_take(
        login: Login, database: Database, settings: Settings, crypto: Crypto, tmp_path: Path) -> None:
    editor = login("admin")
    _page, link = invite(editor, language="nut")
    assert link
    take = recorded_take(database, settings, crypto, token_of(link), sine(tmp_path))
    csrf = csrf_of(editor.get(f"{HOME}/review").text)
    for reason in ("", " ", "x"):
        refused = editor.post(f"{HOME}/takes/{take.id}/reject", data={"csrf": csrf, "reason": reason})
        assert refused.status_code == 422 and "lý do" in refused.text, reason
    assert editor.get(f"{HOME}/takes/{take.id}.mp3").status_code == 200
    done = editor.post(f"{HOME}/takes/{take.id}/reject", data={"csrf": csrf, "reason": "Đọc sai chữ “miễn phí”"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{HOME}/review?done=reject"
    assert editor.get(f"{HOME}/takes/{take.id}.mp3").status_code == 404
    with database.read() as db:
        refused_take = db.get_one(Take, take.id)
        assert (refused_take.status, refused_take.reason) == ("rejected", "Đọc sai chữ “miễn phí”")
    assert not list((settings.audio_dir / "takes").glob(f"{take.stem}.*"))
    assert cell(editor.get(HOME).text, "nut", "in-review") == "0"
    assert editor.get(f"{HOME}/takes/999999.mp3").status_code == 404
    assert editor.post(f"{HOME}/takes/{take.id}/publish", data={"csrf": csrf}).status_code == 404
    unknown = editor.get(f"{HOME}/review", params={"language": "xx"})
    assert unknown.status_code == 422 and "Không có ngôn ngữ này" in unknown.text


# --- the printed sheet ----------------------------------------------------------------------------------

def test_the_sheet_lists_what_a_language_still_needs_and_refuses_an_unknown_language(
        login: Login, database: Database) -> None:
    editor = login("editor")
    page = editor.get(f"{HOME}/sheet", params={"language": "ium"})
    assert page.status_code == 200 and "tiếng Dao" in page.text
    assert not INLINE_CODE.search(page.text)
    with database.read() as db:
        needed = offers.missing_sheet(db, "ium")
    assert needed and page.text.count('class="sheet-item"') == len(needed)
    key, text, _state = needed[0]
    item = page.text.split(f'id="sheet-{key}"')[1].split("</li>")[0]
    assert key in item and text.split()[0] in item and 'class="sheet-blank"' in item
    for language in ("xx", "", "TYZ"):
        refused = editor.get(f"{HOME}/sheet", params={"language": language})
        assert refused.status_code == 422 and "Không có ngôn ngữ này" in refused.text, language
