"""Electronic health book status: what each source says, and what a resident is told.

Three sources write statuses through one `upsert`: CSV files from station staff, the health
information system's batch endpoint, and attendance marked at an exam. Residents read them only
through `answer_for`, after `api.identity.service.check_identity` has proved who they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record as audit
from api.communes.service import check_station_scope
from api.content.service import message_texts, text_for
from api.core.crypto import Crypto
from api.core.errors import Forbidden, NotFound
from api.core.types import DbId, PlausibleDate
from api.records.models import RECORD_STATUSES, HealthRecord, RecordImport
from api.staff.models import StaffUser
from common.errors import InvalidInput
from common.identity import check_birth_date, check_cccd_matches_birth_date, normalize_cccd
from common.masking import mask
from vntext import fold


def identity_hash(crypto: Crypto, cccd: str, birth_date: date) -> str:
    """The keyed hash of CCCD and birth date a record keeps: what a lookup compares (see api.identity)."""
    return crypto.lookup_hash(f"{cccd}|{birth_date.isoformat()}")


RecordStatus = Literal["not_created", "created", "exam_done_pending_update", "updated", "linked_vneid"]
Outcome = Literal["created", "updated", "unchanged"]

# What a resident reads about each status is a message of the content store (seeded from
# bot/texts/records.yml), so staff can reword it and the action server can say it in the
# resident's language from the status code alone.
ANSWER_STATUSES = ("not_found", *RECORD_STATUSES)


def label_key(status: str) -> str:
    return f"record_status_{status}"


def next_step_key(status: str) -> str:
    return f"record_next_{status}"


def status_labels(db: Session) -> dict[str, str]:
    """The Vietnamese label of every status, as staff published it."""
    texts = message_texts(db, [label_key(status) for status in ANSWER_STATUSES])
    return {status: text_for(texts, label_key(status)) for status in ANSWER_STATUSES}


# Folded Vietnamese labels staff may type in a CSV instead of the codes.
_STATUS_WORDS: dict[str, str] = {
    "chua lap": "not_created", "chua lap so": "not_created", "chua co so": "not_created",
    "da lap": "created", "da lap so": "created",
    "da kham": "exam_done_pending_update", "cho cap nhat": "exam_done_pending_update",
    "da kham cho cap nhat": "exam_done_pending_update",
    "da cap nhat": "updated",
    "da lien ket vneid": "linked_vneid", "lien ket vneid": "linked_vneid", "da lien thong vneid": "linked_vneid",
}


class StatusAnswer(BaseModel):
    status: Literal["not_found", "not_created", "created", "exam_done_pending_update", "updated", "linked_vneid"]
    label: str
    updated_on: date | None = Field(description="ngày cập nhật kết quả vào sổ, nếu đã cập nhật")
    next_step: str


def answer_for(db: Session, record: HealthRecord | None) -> StatusAnswer:
    """The resident's answer, in Vietnamese. An unmatched identity and an unknown person both get `not_found`."""
    status = record.status if record is not None else "not_found"
    updated_on = record.updated_on if record is not None and status in ("updated", "linked_vneid") else None
    texts = message_texts(db, [label_key(status), next_step_key(status)])
    return StatusAnswer(status=status, label=text_for(texts, label_key(status)), updated_on=updated_on,
                        next_step=text_for(texts, next_step_key(status)))


class RecordIn(BaseModel):
    cccd: str = Field(min_length=1, max_length=40)
    birth_date: PlausibleDate
    status: RecordStatus
    updated_on: PlausibleDate | None = None
    commune_id: DbId | None = None


class MissingUpdateDate(InvalidInput):
    code = "updated_on_required"
    message = "Trạng thái đã cập nhật cần có ngày cập nhật."


class FutureUpdateDate(InvalidInput):
    code = "updated_on_in_future"
    message = "Ngày cập nhật không thể ở tương lai."


def check_row(row: RecordIn, *, today: date) -> tuple[str, date]:
    """The normalised CCCD and birth date of a row, or InvalidInput with a Vietnamese reason."""
    cccd = normalize_cccd(row.cccd)
    birth_date = check_birth_date(row.birth_date, today=today)
    check_cccd_matches_birth_date(cccd, birth_date)
    if row.status == "updated" and row.updated_on is None:
        raise MissingUpdateDate()
    if row.updated_on is not None and row.updated_on > today:
        raise FutureUpdateDate()
    return cccd, birth_date


def upsert(
    db: Session, crypto: Crypto, *, cccd: str, birth_date: date, status: str, updated_on: date | None,
    commune_id: int | None, source: str, scoped: bool = False,
) -> Outcome:
    """Store what a source says about one person; saying the same thing again changes nothing.

    `scoped`: a commune's station speaks only for its own people — a record filed under another
    commune is not overwritten (nor moved, nor its birth date changed) by its list."""
    assert status in RECORD_STATUSES
    cccd_hash = crypto.lookup_hash(cccd)
    identity = identity_hash(crypto, cccd, birth_date)
    existing = db.scalar(select(HealthRecord).where(HealthRecord.cccd_hash == cccd_hash).with_for_update())
    if scoped and existing is not None and existing.commune_id not in (None, commune_id):
        raise RecordOfAnotherCommune()
    if existing is None:
        db.add(HealthRecord(
            cccd_hash=cccd_hash, identity_hash=identity, cccd_enc=crypto.encrypt(cccd),
            birth_date_enc=crypto.encrypt(birth_date.isoformat()), commune_id=commune_id, status=status,
            updated_on=updated_on, source=source,
        ))
        db.flush()
        return "created"
    if _says_the_same(existing, identity=identity, status=status, updated_on=updated_on, commune_id=commune_id):
        return "unchanged"
    if existing.identity_hash != identity:
        # The health information system and station lists are the reference for the birth date.
        existing.identity_hash = identity
        existing.birth_date_enc = crypto.encrypt(birth_date.isoformat())
    existing.status, existing.updated_on, existing.source = status, updated_on, source
    if commune_id is not None:
        existing.commune_id = commune_id
    db.flush()
    return "updated"


def _says_the_same(record: HealthRecord, *, identity: str, status: str, updated_on: date | None,
                   commune_id: int | None) -> bool:
    return (record.identity_hash == identity and record.status == status and record.updated_on == updated_on
            and (commune_id is None or record.commune_id == commune_id))


class RecordOfAnotherCommune(InvalidInput):
    code = "record_other_commune"
    message = "Người này đang thuộc xã/phường khác; xin nhờ trạm y tế xã đó hoặc quản trị viên cập nhật."


def mark_exam_done(db: Session, crypto: Crypto, *, cccd_enc: str, birth_date_enc: str, commune_id: int,
                   exam_day: date) -> Outcome:
    """Attendance at an exam: the book now waits for the results, unless they are already in."""
    cccd, birth_date = crypto.decrypt(cccd_enc), date.fromisoformat(crypto.decrypt(birth_date_enc))
    existing = db.scalar(select(HealthRecord).where(HealthRecord.cccd_hash == crypto.lookup_hash(cccd)))
    if existing is not None and existing.updated_on is not None and existing.updated_on >= exam_day:
        return "unchanged"
    return upsert(db, crypto, cccd=cccd, birth_date=birth_date, status="exam_done_pending_update",
                  updated_on=None, commune_id=commune_id, source="attendance")


def api_key_hash(key: str) -> str:
    # Keys are long random strings: a plain SHA-256 is enough, and survives master-key rotation.
    return hashlib.sha256(key.encode()).hexdigest()


# --- CSV import --------------------------------------------------------------------------------

_COLUMNS: dict[str, tuple[str, ...]] = {
    "cccd": ("cccd", "so cccd", "so can cuoc", "can cuoc", "so dinh danh"),
    "birth_date": ("birth_date", "ngay sinh"),
    "status": ("status", "trang thai"),
    "updated_on": ("updated_on", "ngay cap nhat"),
}
_REQUIRED = ("cccd", "birth_date", "status")
# How the template names each column (what a refusal says is missing).
_CSV_NAMES = {"cccd": "cccd", "birth_date": "ngay_sinh", "status": "trang_thai", "updated_on": "ngay_cap_nhat"}
MAX_IMPORT_ROWS = 50_000


class BadImportFile(InvalidInput):
    code = "invalid_import_file"
    message = "Tệp chưa đúng mẫu. Cần tệp CSV có các cột: cccd, ngay_sinh, trang_thai, ngay_cap_nhat."


class ImportNotFound(NotFound):
    code = "import_not_found"
    message = "Không tìm thấy lần nhập dữ liệu này."


# line, column, masked value, reason: one line of the error report, one row of the preview's errors.
RowError = tuple[int, str, str, str]


@dataclass
class ImportTally:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class CheckedRow:
    """A row whose values passed the checks, ready to be stored (or shown in a preview, masked)."""

    line: int
    cccd: str
    birth_date: date
    status: str
    updated_on: date | None

    @property
    def shown(self) -> str:
        return mask(self.cccd)


@dataclass
class ParsedFile:
    """What a CSV file says, checked row by row without the database: the rows to store and the rows refused
    (a second row for the same CCCD is refused: the first one counts)."""

    rows: int = 0
    good: list[CheckedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _decode(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadImportFile("Tệp phải lưu dạng CSV UTF-8 (trong Excel: Lưu thành › CSV UTF-8).") from error


def _header_map(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = fold(name).replace("_", " ").strip()
        for column, names in _COLUMNS.items():
            if key in names and column not in found:
                found[column] = index
    missing = [_CSV_NAMES[c] for c in _REQUIRED if c not in found]
    if missing:
        raise BadImportFile(f"Tệp thiếu cột: {', '.join(missing)}. Dòng đầu cần có: cccd, ngay_sinh, trang_thai, "
                            "ngay_cap_nhat (không bắt buộc).")
    return found


def _parse_day(raw: str) -> str:
    """'05/03/1958', '5/3/1958' or '1958-03-05' → ISO, as Excel and people write dates."""
    raw = raw.strip()
    for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(raw, fmt).date().isoformat()  # noqa: DTZ007 - a calendar day
        except ValueError:
            continue
    return raw  # left for the model to refuse with a date error


def _parse_status(raw: str) -> str:
    key = fold(raw).replace("_", " ").strip()
    return key.replace(" ", "_") if key.replace(" ", "_") in RECORD_STATUSES else _STATUS_WORDS.get(key, raw)


def parse_csv(content: bytes, *, today: date) -> ParsedFile:
    """The rows of a station's CSV file, checked; BadImportFile when the file itself is not the template.
    Writes nothing: the import stores what this returns, the studio's preview shows it first."""
    text = _decode(content)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    parsed = ParsedFile()
    first_line: dict[str, int] = {}
    try:
        header = next(reader, None)
        if header is None:
            raise BadImportFile("Tệp trống.")
        columns = _header_map(header)
        for line, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            parsed.rows += 1
            if parsed.rows > MAX_IMPORT_ROWS:
                raise BadImportFile(f"Tệp quá {MAX_IMPORT_ROWS} dòng. Xin chia thành nhiều tệp nhỏ hơn.")
            _check_cells(cells, columns, line=line, today=today, parsed=parsed, first_line=first_line)
    except csv.Error as error:  # NUL bytes, a cell larger than any real one…
        raise BadImportFile(f"Tệp CSV bị lỗi ở dòng {reader.line_num}. Xin lưu lại tệp từ Excel dạng CSV UTF-8.") \
            from error
    return parsed


def _check_cells(cells: list[str], columns: dict[str, int], *, line: int, today: date, parsed: ParsedFile,
                 first_line: dict[str, int]) -> None:
    def cell(column: str) -> str:
        index = columns.get(column)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    raw_cccd = cell("cccd")
    shown = mask(raw_cccd) if raw_cccd else ""
    try:
        row = RecordIn(cccd=raw_cccd or "-", birth_date=_parse_day(cell("birth_date")),
                       status=_parse_status(cell("status")),
                       updated_on=_parse_day(cell("updated_on")) or None)
        cccd, birth_date = check_row(row, today=today)
    except ValidationError as error:
        column = str(error.errors()[0]["loc"][0])
        parsed.errors.append((line, column, shown, _FIELD_ERRORS.get(column, "Giá trị chưa hợp lệ.")))
        return
    except InvalidInput as error:
        parsed.errors.append((line, _ERROR_COLUMN.get(error.code, "cccd"), shown, error.detail_message))
        return
    previous = first_line.setdefault(cccd, line)
    if previous != line:
        parsed.errors.append((line, "cccd", shown, f"Trùng số căn cước với dòng {previous}; dòng này bị bỏ qua."))
        return
    parsed.good.append(CheckedRow(line=line, cccd=cccd, birth_date=birth_date, status=row.status,
                                  updated_on=row.updated_on))


def import_csv(
    db: Session, crypto: Crypto, *, actor: StaffUser, commune_id: int | None, filename: str, content: bytes,
    today: date,
) -> RecordImport:
    parsed = parse_csv(content, today=today)
    tally = ImportTally(rows=parsed.rows, errors=list(parsed.errors))
    for row in parsed.good:
        try:
            outcome = upsert(db, crypto, cccd=row.cccd, birth_date=row.birth_date, status=row.status,
                             updated_on=row.updated_on, commune_id=commune_id, source="csv",
                             scoped=actor.role == "station")
        except RecordOfAnotherCommune as error:
            tally.errors.append((row.line, "cccd", row.shown, error.detail_message))
            continue
        setattr(tally, outcome, getattr(tally, outcome) + 1)
    tally.errors.sort(key=lambda error: error[0])
    batch = RecordImport(
        actor_id=actor.id, commune_id=commune_id, filename=filename[:200], rows=tally.rows, created=tally.created,
        updated=tally.updated, unchanged=tally.unchanged, failed=len(tally.errors),
        error_report=_error_report(tally.errors),
    )
    db.add(batch)
    db.flush()
    audit(db, actor=actor, action="records.import", entity="record_import", entity_id=batch.id, rows=tally.rows,
          created=tally.created, updated=tally.updated, unchanged=tally.unchanged, failed=len(tally.errors))
    return batch


@dataclass(frozen=True)
class PreviewRow:
    """One of a file's first rows as the import would store it: masked, and what it would do."""

    line: int
    shown: str
    birth_year: int
    status: str
    updated_on: date | None
    outcome: Outcome


@dataclass
class ImportPreview:
    tally: ImportTally
    first: list[PreviewRow]


def preview_csv(
    db: Session, crypto: Crypto, *, actor: StaffUser, commune_id: int | None, content: bytes, today: date,
    first: int = 10,
) -> ImportPreview:
    """What `import_csv` would do with this file, read from the database and stored nowhere: how many
    rows it would add, change and leave as they are, its `first` good rows, and every row it would refuse
    (a person of another commune included), by line. A change made meanwhile can still change the outcome.
    It tells whether people have a book, as an import does: it is audited like one (counts only)."""
    parsed = parse_csv(content, today=today)
    tally = ImportTally(rows=parsed.rows, errors=list(parsed.errors))
    shown: list[PreviewRow] = []
    scoped = actor.role == "station"
    for start in range(0, len(parsed.good), _PREVIEW_BATCH):
        chunk = parsed.good[start:start + _PREVIEW_BATCH]
        hashes = {row.cccd: crypto.lookup_hash(row.cccd) for row in chunk}
        existing = {record.cccd_hash: record for record in db.scalars(
            select(HealthRecord).where(HealthRecord.cccd_hash.in_(hashes.values())))}
        for row in chunk:
            record = existing.get(hashes[row.cccd])
            if scoped and record is not None and record.commune_id not in (None, commune_id):
                tally.errors.append((row.line, "cccd", row.shown, RecordOfAnotherCommune.message))
                continue
            outcome = _outcome(crypto, record, row, commune_id)
            setattr(tally, outcome, getattr(tally, outcome) + 1)
            if len(shown) < first:
                shown.append(PreviewRow(line=row.line, shown=row.shown, birth_year=row.birth_date.year,
                                        status=row.status, updated_on=row.updated_on, outcome=outcome))
    tally.errors.sort(key=lambda error: error[0])
    audit(db, actor=actor, action="records.import_preview", entity="commune", entity_id=commune_id, rows=tally.rows,
          created=tally.created, updated=tally.updated, unchanged=tally.unchanged, failed=len(tally.errors))
    return ImportPreview(tally=tally, first=shown)


def _outcome(crypto: Crypto, record: HealthRecord | None, row: CheckedRow, commune_id: int | None) -> Outcome:
    """What `upsert` would answer for this row (the same comparison, without the write)."""
    if record is None:
        return "created"
    same = _says_the_same(record, identity=identity_hash(crypto, row.cccd, row.birth_date), status=row.status,
                          updated_on=row.updated_on, commune_id=commune_id)
    return "unchanged" if same else "updated"


# Records read at a time by a preview (one IN list each).
_PREVIEW_BATCH = 500


_FIELD_ERRORS = {
    "cccd": "Thiếu số căn cước.",
    "birth_date": "Ngày sinh chưa đúng, ghi dạng ngày/tháng/năm, ví dụ 05/03/1958.",
    "status": "Trạng thái chưa đúng. Dùng một trong: chưa lập, đã lập, đã khám, đã cập nhật, đã liên kết VNeID.",
    "updated_on": "Ngày cập nhật chưa đúng, ghi dạng ngày/tháng/năm.",
}
_ERROR_COLUMN = {
    "invalid_birth_date": "birth_date", "cccd_birth_date_mismatch": "birth_date",
    "updated_on_required": "updated_on", "updated_on_in_future": "updated_on",
}


def _error_report(errors: list[tuple[int, str, str, str]]) -> str:
    if not errors:
        return ""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["dong", "cot", "gia_tri", "loi"])
    writer.writerows(errors)
    return out.getvalue()


def get_import(db: Session, import_id: int) -> RecordImport:
    batch = db.get(RecordImport, import_id)
    if batch is None:
        raise ImportNotFound()
    return batch


def visible_import(db: Session, staff: StaffUser, import_id: int) -> RecordImport:
    """An import as `staff` may see it (its counts, its error report): a commune's to that commune's
    station staff and to admins; one filed under no commune to its author and to admins."""
    batch = get_import(db, import_id)
    if batch.commune_id is not None:
        check_station_scope(staff, batch.commune_id)
    elif staff.role != "admin" and batch.actor_id != staff.id:
        raise Forbidden()
    return batch
