"""Staff pages: login, roles, CSRF, the FAQ/message editors, review, unanswered inbox and audio upload."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.audit.models import AuditEntry
from api.core.db import Database
from tests.support.world import World, csrf_of


@pytest.fixture
def login(studio_login: Any, seeded_content: Database) -> Any:
    return studio_login


def test_login_is_required_and_wrong_passwords_are_told_in_vietnamese(
        client: TestClient, seeded_content: Database) -> None:
    assert client.get("/studio/faq", follow_redirects=False).headers["location"] == "/studio/login"
    page = client.post("/studio/login", data={"username": "ai-do", "password": "sai"})
    assert page.status_code == 401 and "Tên đăng nhập hoặc mật khẩu không đúng" in page.text


def test_cadres_and_station_staff_cannot_edit_content(login: Any, world: World) -> None:
    for role in ("cadre", "station"):
        browser = login(role, commune_id=world.commune()["id"] if role == "station" else None)
        for path in ("/studio/faq", "/studio/messages/utter_greet", "/studio/audio", "/studio/review"):
            page = browser.get(path)
            assert page.status_code == 403 and "không có quyền" in page.text, (role, path)
        assert browser.post("/studio/faq/free_of_charge", data={"csrf": "x"}).status_code == 403


def test_an_editor_drafts_through_the_page_and_another_publishes(
        login: Any, seeded_content: Database, client: TestClient) -> None:
    author, reviewer = login("editor"), login("editor")
    form_page = author.get("/studio/faq/free_of_charge")
    assert form_page.status_code == 200 and "Xem trước trong khung trò chuyện" in form_page.text
    csrf = csrf_of(form_page.text)
    new_answer = "Khám sức khỏe định kỳ là MIỄN PHÍ, bác không phải trả tiền (sửa qua trang)."
    form = {"csrf": csrf, "category": "chi_phi", "questions": "khám có mất tiền không\nksk co mat tien k",
            "answer_vi": new_answer, "answer_tyz": "", "answer_nut": "", "answer_hmn": "", "answer_ium": "",
            "effective_from": "", "expires_on": "", "action": "submit"}
    # A form posted without the page's token (from another site) changes nothing.
    forged = author.post("/studio/faq/free_of_charge", data={**form, "csrf": "0" * 40})
    assert forged.status_code == 403 and "tải lại trang" in forged.text
    saved = author.post("/studio/faq/free_of_charge", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert "gửi duyệt" in author.get(saved.headers["location"]).text
    review = author.get("/studio/review").text
    assert "cần một biên tập viên khác" in review and "Duyệt và xuất bản" not in review
    review = reviewer.get("/studio/review").text
    revision_id = re.search(r'/studio/review/(\d+)/publish', review).group(1)  # type: ignore[union-attr]
    assert new_answer in review
    done = reviewer.post(f"/studio/review/{revision_id}/publish", data={"csrf": csrf_of(review)})
    assert done.status_code == 200 and "Đã xuất bản" in done.text
    hit = client.get("/api/v1/faq/search", params={"q": "ksk co mat tien k"}).json()[0]
    assert hit["answer"] == new_answer
    history = author.get("/studio/faq/free_of_charge").text
    assert "published" in history
    with seeded_content.read() as db:
        actions = db.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == "free_of_charge")).all()
    assert actions == ["content.draft", "content.submit", "content.publish"]


def test_bad_input_on_pages_gets_a_vietnamese_explanation(login: Any) -> None:
    editor = login("editor")
    page = editor.get("/studio/messages/utter_booking_confirmed")
    csrf = csrf_of(page.text)
    texts = {f"text_{lang}": "" for lang in ("tyz", "nut", "hmn", "ium")}
    bad = editor.post("/studio/messages/utter_booking_confirmed",
                      data={"csrf": csrf, "text_vi": "Mã của bác: {ma}", **texts, "action": "save"})
    assert bad.status_code == 422 and "chỗ điền" in bad.text
    new_page = editor.get("/studio/faq/new")
    bad_key = editor.post("/studio/faq/new", data={"csrf": csrf_of(new_page.text), "key": "Có Dấu", "questions": "x",
                                                    "answer_vi": "y"})
    assert bad_key.status_code == 422 and "chữ thường không dấu" in bad_key.text
    assert editor.get("/studio/faq/khong_co").status_code == 404


def test_an_unanswered_question_becomes_content_in_two_clicks(
        login: Any, client: TestClient, seeded_content: Database) -> None:
    editor = login("editor")
    client.post("/api/v1/faq/unanswered", json={"text": "xet nghiem mau co phai nhin an", "channel": "zalo",
                                                "best_key": "fasting", "best_score": 0.31})
    client.post("/api/v1/faq/unanswered", json={"text": "co kham mat khong", "channel": "web"})
    inbox = editor.get("/studio/unanswered").text
    assert 'value="fasting" selected' in inbox
    first_id, second_id = re.findall(r'/studio/unanswered/(\d+)/variant', inbox)[:2][::-1]
    # Click 1 (the best match is preselected): the question joins that FAQ's draft.
    added = editor.post(f"/studio/unanswered/{first_id}/variant", data={"csrf": csrf_of(inbox), "key": "fasting"},
                        follow_redirects=False)
    assert added.headers["location"] == "/studio/faq/fasting?saved=variant"
    assert "xet nghiem mau co phai nhin an" in editor.get("/studio/faq/fasting").text
    # "New FAQ" opens the editor with the question filled in; saving is the second click.
    new_page = editor.get(f"/studio/faq/new?question=co+kham+mat+khong&from={second_id}")
    assert "co kham mat khong" in new_page.text
    created = editor.post("/studio/faq/new", data={
        "csrf": csrf_of(new_page.text), "key": "kham_mat", "category": "noi_dung", "questions": "co kham mat khong",
        "answer_vi": "Có đo thị lực trong khám tổng quát.", "from_unanswered": second_id, "action": "save"},
        follow_redirects=False)
    assert created.headers["location"].startswith("/studio/faq/kham_mat")
    assert "Không có câu hỏi nào đang chờ" in editor.get("/studio/unanswered").text


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (make setup-system)")
def test_audio_page_uploads_shows_players_and_explains_refusals(login: Any, tmp_path: Path) -> None:
    editor = login("editor")
    wav = tmp_path / "a.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", str(wav)], check=True)
    page = editor.get("/studio/audio/what_to_bring")
    csrf = csrf_of(page.text)
    done = editor.post("/studio/audio", data={"csrf": csrf, "key": "what_to_bring", "language": "nut"},
                       files={"file": ("ghi-am.wav", wav.read_bytes(), "audio/wav")})
    assert done.status_code == 200 and "Đã lưu bản ghi" in done.text and "<audio controls" in done.text
    refused = editor.post("/studio/audio", data={"csrf": csrf, "key": "what_to_bring", "language": "dao"},
                          files={"file": ("x.wav", wav.read_bytes(), "audio/wav")})
    assert refused.status_code == 422 and "Ngôn ngữ không được hỗ trợ" in refused.text
    corrupt = editor.post("/studio/audio", data={"csrf": csrf, "key": "what_to_bring", "language": "hmn"},
                          files={"file": ("x.mp3", b"khong phai am thanh", "audio/mpeg")})
    assert corrupt.status_code == 422 and "Không đọc được tệp âm thanh" in corrupt.text
    matrix = editor.get("/studio/audio").text
    row = matrix.split('href="/studio/audio/what_to_bring"')[1].split("</tr>")[0]
    assert 'class="state-recorded" data-language="nut"' in row and 'class="state-missing" data-language="hmn"' in row
