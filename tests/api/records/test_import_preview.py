"""The preview of a station's CSV file (records.service.preview_csv) says what the import will do — the same
counts and the same refused rows, by line — and stores nothing but its audit entry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.audit.models import AuditEntry
from api.core.clock import local_today
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.records import service
from api.records.models import HealthRecord, RecordImport
from api.staff.models import StaffUser
from api.staff.service import create_staff
from tests.support.world import World, import_csv, person


def station_of(database: Database, commune_id: int) -> StaffUser:
    with database.write() as db:
        user = create_staff(db=db, actor=None, username=f"station-{uuid.uuid4().hex[:6]}", password="mat-khau-123",
                            role="station", commune_id=commune_id)
        db.expunge(user)
    return user


def written(database: Database) -> tuple[int, int, list[str]]:
    with database.read() as db:
        return (db.scalar(select(func.count()).select_from(HealthRecord)) or 0,
                db.scalar(select(func.count()).select_from(RecordImport)) or 0,
                list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id))))


def test_the_preview_says_what_the_import_does_and_stores_nothing_but_its_audit(
    client: TestClient, world: World, database: Database, settings: Settings,
    staff_token: Callable[..., dict[str, str]],
) -> None:
    home, away = world.commune(), world.commune("Yên Thịnh")
    known, changed, theirs = (person(home["id"]) for _ in range(3))
    import_csv(client, staff_token("station", commune_id=home["id"]),
               f"cccd,ngay_sinh,trang_thai\n{known['cccd']},{known['birth_date']},created\n"
               f"{changed['cccd']},{changed['birth_date']},created\n")
    import_csv(client, staff_token("station", commune_id=away["id"]),
               f"cccd,ngay_sinh,trang_thai\n{theirs['cccd']},{theirs['birth_date']},created\n")
    new: list[dict[str, Any]] = [person(home["id"]) for _ in range(12)]
    body = ("cccd;ngay_sinh;trang_thai;ngay_cap_nhat\n"
            f"{known['cccd']};05/03/1958;đã lập;\n"                     # unchanged
            f"{changed['cccd']};05/03/1958;updated;01/10/2026\n"        # updated
            f"{theirs['cccd']};05/03/1958;created;\n"                   # another commune's person
            "12345;05/03/1958;created;\n"                               # too short
            f"{known['cccd']};05/03/1958;created;\n"                    # the same person twice
            + "".join(f"{p['cccd']};05/03/1958;chưa lập;\n" for p in new))
    station, crypto = station_of(database, home["id"]), Crypto.from_settings(settings)
    records, imports, audited = written(database)
    with database.write() as db:
        preview = service.preview_csv(db, crypto, actor=station, commune_id=home["id"], content=body.encode(),
                                      today=local_today())
    # It tells who has a book, as an import does: audited like one, with counts only.
    assert written(database) == (records, imports, [*audited, "records.import_preview"])
    with database.read() as db:
        entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.detail == {"rows": 17, "created": 12, "updated": 1, "unchanged": 1,
                                                  "failed": 3}

    counts = preview.tally
    assert (counts.rows, counts.created, counts.updated, counts.unchanged) == (17, 12, 1, 1)
    assert [(line, column) for line, column, _, _ in counts.errors] == [(4, "cccd"), (5, "cccd"), (6, "cccd")]
    assert "xã/phường khác" in counts.errors[0][3] and "Trùng số căn cước với dòng 2" in counts.errors[2][3]
    assert [row.outcome for row in preview.first] == ["unchanged", "updated"] + ["created"] * 8
    assert preview.first[1].shown == "•" * 9 + changed["cccd"][-3:] and preview.first[1].birth_year == 1958
    assert all(known["cccd"] not in str(row) for row in preview.first)

    with database.write() as db:
        batch = service.import_csv(db, crypto, actor=station, commune_id=home["id"], filename="so.csv",
                                   content=body.encode(), today=local_today())
        outcome = (batch.rows, batch.created, batch.updated, batch.unchanged, batch.failed, batch.error_report)
    assert outcome[:5] == (counts.rows, counts.created, counts.updated, counts.unchanged, len(counts.errors))
    assert [line.split(",")[0] for line in outcome[5].strip().splitlines()[1:]] == ["4", "5", "6"]
