"""The studio's import of e-health-book statuses (/studio/records/import): station staff (their commune) and
admins; the CSV previewed first — counts, the first rows masked, refused rows with their reasons in
Vietnamese — with nothing stored; then imported exactly as previewed, the counts shown and the error
report downloadable; forms need their CSRF token; a file too large, a spreadsheet or a file not in the
template gets a page that says so."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.audit.models import AuditEntry
from api.core.config import Settings
from api.core.db import Database
from api.records.models import HealthRecord, RecordImport
from tests.support.world import World, csrf_of, person

Login = Callable[..., TestClient]
PAGE = "/studio/records/import"
CONFIRM = "/studio/records/import/confirm"
INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<[^>]+\son[a-z]+\s*=|<style|\sstyle\s*=", re.IGNORECASE)
HELD = re.compile(r'name="held" value="([^"]+)"')


def upload(browser: TestClient, content: bytes, name: str = "so-suc-khoe.csv", *, csrf: str | None = None,
           **fields: str) -> httpx.Response:
    token = csrf if csrf is not None else csrf_of(browser.get(PAGE).text)
    return browser.post(PAGE, data={"csrf": token, **fields}, files={"file": (name, content, "text/csv")})


def confirm(browser: TestClient, preview: httpx.Response) -> httpx.Response:
    held = HELD.search(preview.text)
    assert held, "the preview has no import button"
    return browser.post(CONFIRM, data={"csrf": csrf_of(preview.text), "held": held.group(1)},
                        files={"unused": ("", b"")}, follow_redirects=False)


def stored(database: Database) -> tuple[int, int]:
    with database.read() as db:
        return (db.scalar(select(func.count()).select_from(HealthRecord)) or 0,
                db.scalar(select(func.count()).select_from(RecordImport)) or 0)


def station_list(commune_id: int, people: int = 3) -> tuple[str, list[dict[str, Any]]]:
    residents = [person(commune_id) for _ in range(people)]
    body = "so_cccd;ngay_sinh;trang_thai;ngay_cap_nhat\n" + "".join(
        f"{r['cccd']};05/03/1958;đã lập;\n" for r in residents) + (
        "12345;05/03/1958;created;\n"                                      # too short
        f"{person(commune_id)['cccd']};05/03/1958;bí ẩn;\n"                # unknown status
        f"{person(commune_id)['cccd']};05/03/1958;đã cập nhật;\n")         # updated without its date
    return body, residents


def test_station_staff_and_admins_open_it_others_do_not(studio_login: Login, client: TestClient,
                                                        world: World) -> None:
    assert client.get(PAGE, follow_redirects=False).headers["location"] == "/studio/login"
    for role in ("editor", "cadre"):
        browser = studio_login(role)
        page = browser.get(PAGE)
        assert page.status_code == 403 and "không có quyền" in page.text, role
        assert browser.post(PAGE, data={"csrf": "x"}, files={"file": ("a.csv", b"x")}).status_code == 403
    commune = world.commune("Hữu Liên")
    station = studio_login("station", commune_id=commune["id"]).get(PAGE)
    assert station.status_code == 200 and "Xã/phường: Hữu Liên" in station.text
    assert 'name="commune_id"' not in station.text  # a station imports for its own commune only
    assert f'href="{PAGE}"' in station.text  # in the menu
    admin = studio_login("admin").get(PAGE)
    assert admin.status_code == 200 and '<select id="commune_id" name="commune_id">' in admin.text
    for page in (station, admin):
        assert not INLINE_CODE.search(page.text)
        assert 'enctype="multipart/form-data"' in page.text and 'accept=".csv,text/csv"' in page.text


def test_the_preview_shows_counts_first_rows_and_reasons_and_stores_nothing(
        studio_login: Login, world: World, database: Database) -> None:
    commune = world.commune()
    station = studio_login("station", commune_id=commune["id"])
    body, residents = station_list(commune["id"])
    before = stored(database)
    preview = upload(station, body.encode("utf-8-sig"))
    assert preview.status_code == 200, preview.text
    assert stored(database) == before
    assert "Chưa lưu gì" in preview.text and not INLINE_CODE.search(preview.text)
    counts = preview.text.split('id="counts"')[1].split("</table>")[0]
    assert re.findall(r"<td>(\d+)</td>", counts) == ["6", "3", "0", "0", "3"]
    first = preview.text.split('id="first-rows"')[1].split("</table>")[0]
    assert first.count("<tr>") == 4 and "Thêm mới" in first and "1958" in first
    assert "•" * 9 + residents[0]["cccd"][-3:] in first
    errors = preview.text.split('id="row-errors"')[1].split("</table>")[0]
    assert [int(line) for line in re.findall(r"<tr><td>(\d+)</td>", errors)] == [5, 6, 7]
    assert "Trạng thái chưa đúng" in errors and "Trạng thái đã cập nhật cần có ngày cập nhật." in errors
    assert "Trạng thái (trang_thai)" in errors and "Ngày cập nhật (ngay_cap_nhat)" in errors
    # No CCCD in clear anywhere in the page, the held file included.
    assert all(r["cccd"] not in preview.text for r in residents)
    assert "Nhập 3 dòng đúng" in preview.text
    with database.read() as db:
        audited = db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("records.%"))).all()
    assert audited == ["records.import_preview"]


def test_confirming_imports_what_was_previewed_and_shows_the_counts_and_the_error_report(
        studio_login: Login, world: World, database: Database) -> None:
    commune = world.commune()
    station = studio_login("station", commune_id=commune["id"])
    body, residents = station_list(commune["id"])
    preview = upload(station, body.encode("utf-8-sig"))
    done = confirm(station, preview)
    assert done.status_code == 303 and re.fullmatch(r"/studio/records/imports/\d+", done.headers["location"])
    result = station.get(done.headers["location"])
    assert result.status_code == 200 and not INLINE_CODE.search(result.text)
    counts = result.text.split('id="counts"')[1].split("</table>")[0]
    assert re.findall(r"<td>(\d+)</td>", counts) == ["6", "3", "0", "0", "3"]
    with database.read() as db:
        records = db.scalars(select(HealthRecord)).all()
        batch = db.scalars(select(RecordImport)).one()
    assert {r.commune_id for r in records} == {commune["id"]} and len(records) == 3
    assert batch.filename == "so-suc-khoe.csv" and batch.actor_id is not None

    link = f"/studio/records/imports/{batch.id}/errors.csv"
    assert f'href="{link}"' in result.text
    report = station.get(link)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    assert report.text.startswith("\ufeffdong,cot,gia_tri,loi")
    assert [line.split(",")[0] for line in report.text.splitlines()[1:]] == ["5", "6", "7"]

    # Another commune's station sees neither the result nor the report; the same file again changes nothing.
    other = studio_login("station", commune_id=world.commune("Yên Thịnh")["id"])
    assert other.get(done.headers["location"]).status_code == 403
    assert other.get(link).status_code == 403
    again = station.get(done.headers["location"].rsplit("/", 1)[0] + "/999999")
    assert again.status_code == 404
    second = station.get(confirm(station, upload(station, body.encode())).headers["location"])
    assert re.findall(r"<td>(\d+)</td>", second.text.split('id="counts"')[1].split("</table>")[0]) == [
        "6", "0", "0", "3", "3"]


def test_an_admin_files_a_list_under_the_commune_chosen(studio_login: Login, world: World,
                                                        database: Database) -> None:
    commune = world.commune("Hữu Lũng")
    admin = studio_login("admin")
    body, _ = station_list(commune["id"], people=1)
    preview = upload(admin, body.encode(), commune_id=str(commune["id"]))
    assert preview.status_code == 200 and "Xã/phường: Hữu Lũng" in preview.text
    confirm(admin, preview)
    with database.read() as db:
        assert db.scalars(select(HealthRecord.commune_id)).all() == [commune["id"]]
    refused = upload(admin, body.encode(), commune_id="999999")
    assert refused.status_code == 404 and 'role="alert"' in refused.text


def test_forms_without_their_csrf_token_or_a_held_file_not_theirs_are_refused(
        studio_login: Login, world: World, database: Database) -> None:
    commune = world.commune()
    station = studio_login("station", commune_id=commune["id"])
    body, _ = station_list(commune["id"], people=1)
    assert upload(station, body.encode(), csrf="wrong").status_code == 403
    preview = upload(station, body.encode())
    held = HELD.search(preview.text)
    assert held
    assert station.post(CONFIRM, data={"csrf": "wrong", "held": held.group(1)}).status_code == 403
    # The same commune's other station account cannot import a page it did not preview; nor can a token
    # that was changed.
    colleague = studio_login("station", commune_id=commune["id"])
    theirs = colleague.post(CONFIRM, data={"csrf": csrf_of(colleague.get(PAGE).text), "held": held.group(1)})
    assert theirs.status_code == 422 and "Bản xem trước đã quá một giờ" in theirs.text
    bent = station.post(CONFIRM, data={"csrf": csrf_of(preview.text), "held": held.group(1)[:-4] + "AAAA"})
    assert bent.status_code == 422
    assert stored(database)[1] == 0


@pytest.mark.parametrize(("content", "name", "status", "says"), [
    (b"", "trong.csv", 422, "Tệp trống."),
    (b"PK\x03\x04" + b"\x00" * 100, "so.xlsx", 422, "Đây là tệp Excel, chưa phải CSV."),
    (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "so.xls", 422, "Đây là tệp Excel, chưa phải CSV."),
    (b"ho_ten,ngay\nAn,1\n", "khac.csv", 422, "Tệp thiếu cột: cccd, ngay_sinh, trang_thai."),
    (b"cccd,ngay_sinh,trang_thai\n\xff\xfe\xfa\n", "so.csv", 422, "Tệp phải lưu dạng CSV UTF-8"),
])
def test_a_file_that_is_not_the_template_gets_a_page_that_says_why(
        studio_login: Login, world: World, content: bytes, name: str, status: int, says: str) -> None:
    station = studio_login("station", commune_id=world.commune()["id"])
    refused = upload(station, content, name)
    assert refused.status_code == status
    assert refused.headers["content-type"].startswith("text/html")
    assert 'id="import-error"' in refused.text and says in refused.text
    assert 'id="upload"' in refused.text  # the form again, to choose another file


def test_no_file_chosen_is_said_plainly(studio_login: Login, world: World) -> None:
    station = studio_login("station", commune_id=world.commune()["id"])
    refused = station.post(PAGE, data={"csrf": csrf_of(station.get(PAGE).text)}, files={"unused": ("", b"")})
    assert refused.status_code == 422 and "Xin chọn tệp CSV" in refused.text


def test_a_file_over_the_limit_gets_a_page_not_a_json_error(studio_login: Login, world: World,
                                                            settings: Settings) -> None:
    station = studio_login("station", commune_id=world.commune()["id"])
    csrf = csrf_of(station.get(PAGE).text)
    just_over = b"cccd,ngay_sinh,trang_thai\n" + b"0" * settings.max_import_bytes
    refused = upload(station, just_over, csrf=csrf)
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("text/html")
    assert "Tệp lớn hơn 5 MB" in refused.text and 'id="upload"' in refused.text
    # Far over: refused before it is read, still as a page with the way back.
    far_over = upload(station, b"0" * (settings.max_import_bytes * 3), csrf=csrf)
    assert far_over.status_code == 413 and far_over.headers["content-type"].startswith("text/html")
    assert "Tệp quá lớn" in far_over.text and f'href="{PAGE}"' in far_over.text
    assert "content-security-policy" in far_over.headers
