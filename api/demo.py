"""Demo data: a slice of Lạng Sơn province, for trying the assistant. NOT real schedules.

Commune and ward names are real (Lạng Sơn after the July 2025 reorganisation into two tiers);
hamlets, sites' phone numbers, sessions and residents are invented and labelled as demo.
Personal numbers of the demo residents are generated at random when seeding (CCCDs under the
unassigned province code 003, so none can be a real person's) and are stored
encrypted like any other; none is written in this file.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.bookings.models import Booking
from api.bookings.service import phone_hash
from api.communes.models import Commune, Province, Site
from api.core.clock import local_today, local_tz
from api.core.config import VAR_DIR, Settings, get_settings
from api.core.crypto import Crypto
from api.core.db import Database
from api.core.text import compact, search_key
from api.residents.models import Resident
from api.sessions.models import ExamSession
from api.staff.models import StaffUser
from api.staff.security import hash_password
from common import booking_codes

PROVINCE = ("20", "Lạng Sơn")
DEMO_NOTE = "[DỮ LIỆU MẪU] "

# (code, name, kind, mobile-team stop or None)
COMMUNES = [
    ("DEMO-20-001", "Tam Thanh", "phuong", None),
    ("DEMO-20-002", "Lương Văn Tri", "phuong", None),
    ("DEMO-20-003", "Đông Kinh", "phuong", None),
    ("DEMO-20-004", "Kỳ Lừa", "phuong", None),
    ("DEMO-20-005", "Đồng Đăng", "xa", "Nhà văn hóa thôn Bản Ngõa"),
    ("DEMO-20-006", "Cao Lộc", "xa", None),
    ("DEMO-20-007", "Mẫu Sơn", "xa", "Nhà văn hóa thôn Khuổi Cáp"),
    ("DEMO-20-008", "Hữu Lũng", "xa", None),
    ("DEMO-20-009", "Hữu Liên", "xa", "Nhà văn hóa thôn Lân Châu"),
    ("DEMO-20-010", "Chi Lăng", "xa", None),
    ("DEMO-20-011", "Lộc Bình", "xa", "Nhà văn hóa thôn Nà Sla"),
    ("DEMO-20-012", "Na Sầm", "xa", None),
    ("DEMO-20-013", "Bắc Sơn", "xa", "Nhà văn hóa thôn Hồng Phong"),
    ("DEMO-20-014", "Bình Gia", "xa", None),
    ("DEMO-20-015", "Đình Lập", "xa", "Nhà văn hóa thôn Bản Chắt"),
    ("DEMO-20-016", "Kiên Mộc", "xa", "Nhà văn hóa thôn Khe Cháy"),
]
# Where the sites stand (WGS84 latitude, longitude): the communes' centres as on a map, to about a
# kilometre; hamlets' meeting halls placed plausibly near them. Keyed by commune code: (station, stop).
Position = tuple[float, float]
POSITIONS: dict[str, tuple[Position, Position | None]] = {
    "DEMO-20-001": ((21.8466, 106.7577), None),
    "DEMO-20-002": ((21.8540, 106.7420), None),
    "DEMO-20-003": ((21.8500, 106.7700), None),
    "DEMO-20-004": ((21.8680, 106.7690), None),
    "DEMO-20-005": ((21.9500, 106.6990), (21.9620, 106.6830)),
    "DEMO-20-006": ((21.8900, 106.7900), None),
    "DEMO-20-007": ((21.8300, 106.9300), (21.8450, 106.9520)),
    "DEMO-20-008": ((21.5080, 106.3420), None),
    "DEMO-20-009": ((21.7000, 106.3500), (21.7280, 106.3700)),
    "DEMO-20-010": ((21.6700, 106.6180), None),
    "DEMO-20-011": ((21.7580, 106.9200), (21.7400, 106.9050)),
    "DEMO-20-012": ((22.0580, 106.6100), None),
    "DEMO-20-013": ((21.9000, 106.3200), (21.8700, 106.3350)),
    "DEMO-20-014": ((21.9450, 106.3750), None),
    "DEMO-20-015": ((21.5430, 107.0960), (21.5660, 107.1350)),
    "DEMO-20-016": ((21.6200, 107.0100), (21.6300, 107.0350)),
}
HOSPITAL_POSITION: Position = (21.8380, 106.7620)
FAMILY = ["Hoàng", "Nông", "Lăng", "Vi", "Lương", "Nguyễn", "Triệu", "Lý", "Đinh", "Mã"]
MIDDLE = ["Văn", "Thị", "Đức", "Thị Thu", "Văn Minh", "Thị Hồng"]
GIVEN = ["An", "Bình", "Chinh", "Dung", "Hạnh", "Khánh", "Lan", "Mai", "Nam", "Phúc", "Quý", "Tuấn"]


def seed_demo(db: Database, *, weeks: int = 4, rng: random.Random | None = None) -> str:
    """Load the demo province once; running it again changes nothing."""
    rng = rng or random.Random(20260101)
    crypto = Crypto.from_settings(get_settings())
    with db.write() as session:
        if session.scalar(select(Province.id).where(Province.code == PROVINCE[0])) is not None:
            return "đã có sẵn, không nạp lại."
        province = Province(code=PROVINCE[0], name=PROVINCE[1])
        session.add(province)
        sites: list[tuple[Site, bool]] = []
        for code, name, kind, stop in COMMUNES:
            commune = Commune(
                province=province, code=code, name=name, kind=kind,
                search_key=search_key(name), compact_key=compact(name),
            )
            session.add(commune)
            label = "phường" if kind == "phuong" else "xã"
            station_at, stop_at = POSITIONS[code]
            station = Site(
                commune=commune, name=f"Trạm Y tế {label} {name}", kind="station",
                address=f"Trung tâm {label} {name}, tỉnh Lạng Sơn", phone=_demo_phone(rng),
                latitude=station_at[0], longitude=station_at[1],
            )
            session.add(station)
            sites.append((station, False))
            if stop:
                where = stop_at or station_at
                mobile = Site(
                    commune=commune, name=f"Đội khám lưu động — {stop}", kind="mobile",
                    address=f"{stop}, {label} {name}", phone=station.phone, latitude=where[0], longitude=where[1],
                )
                session.add(mobile)
                sites.append((mobile, True))
        session.add(Site(
            commune=session.scalars(select(Commune)).first() or commune,
            name="Bệnh viện Đa khoa tỉnh Lạng Sơn (demo)", kind="hospital",
            address="Phường Tam Thanh, tỉnh Lạng Sơn", phone=_demo_phone(rng),
            latitude=HOSPITAL_POSITION[0], longitude=HOSPITAL_POSITION[1],
        ))
        session.flush()

        exam_sessions = _demo_sessions(session, sites, weeks=weeks, rng=rng)
        booked = _demo_bookings(session, crypto, exam_sessions, rng=rng)
    return f"{len(COMMUNES)} xã/phường, {len(sites)} điểm khám, {len(exam_sessions)} buổi khám, {booked} lượt đặt."


def _demo_phone(rng: random.Random) -> str:
    return "0205" + "".join(str(rng.randrange(10)) for _ in range(7))


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=local_tz())


def _demo_sessions(
    session: Session, sites: list[tuple[Site, bool]], *, weeks: int, rng: random.Random
) -> list[ExamSession]:
    today = local_today()
    created = []
    for offset in range(1, weeks * 7 + 1):
        day = today + timedelta(days=offset)
        if day.weekday() == 6:  # stations rest on Sunday
            continue
        for site, is_mobile in sites:
            # Stations examine two or three mornings a week; the mobile team visits each hamlet
            # about once a fortnight, for the whole day.
            if is_mobile:
                if (offset + site.commune_id) % 10 != 0:
                    continue
                starts, ends, capacity = _local(day, 7, 30), _local(day, 16, 0), 40
                groups = ["elderly", "general"]
                note = "Đội khám lưu động của Trung tâm Y tế khu vực. Mang theo CCCD và thẻ BHYT."
            else:
                if (offset + site.id) % 3 != 0:
                    continue
                starts, ends, capacity = _local(day, 7, 30), _local(day, 11, 0), 30
                groups = ["general"]
                note = "Khám tại trạm, nên đến trước giờ hẹn 15 phút."
            created.append(ExamSession(
                site_id=site.id, starts_at=starts, ends_at=ends, capacity=capacity, booked=0,
                waitlisted=0, target_groups=groups, note=DEMO_NOTE + note, status="open",
            ))
    session.add_all(created)
    session.flush()
    return created


def _demo_bookings(session: Session, crypto: Crypto, exam_sessions: list[ExamSession], *, rng: random.Random) -> int:
    """Fill some sessions so the demo shows nearly-full and full-with-waitlist cases."""
    total = 0
    for index, exam in enumerate(exam_sessions[:40]):
        if index % 4 == 0:
            wanted = exam.capacity - rng.randint(1, 3)  # nearly full
        elif index % 13 == 0:
            wanted = exam.capacity + 2  # full, two waiting
        else:
            wanted = rng.randint(0, exam.capacity // 2)
        for _ in range(wanted):
            resident = _demo_resident(crypto, exam.site.commune_id, rng)
            session.add(resident)
            session.flush()
            status = "confirmed" if exam.booked < exam.capacity else "waitlisted"
            if status == "confirmed":
                exam.booked += 1
            else:
                exam.waitlisted += 1
            session.add(Booking(
                code=booking_codes.new_code(), session_id=exam.id, resident_id=resident.id,
                status=status, channel=rng.choice(["zalo", "zalo", "web", "telegram"]),
            ))
            total += 1
    session.flush()
    return total


def _demo_resident(crypto: Crypto, commune_id: int, rng: random.Random) -> Resident:
    birth = date(rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28))
    century_digit = (0 if birth.year < 2000 else 2) + rng.randint(0, 1)
    # Province code 003 is assigned to no province, so a demo number can never be a real one.
    cccd = f"003{century_digit}{birth.year % 100:02d}" + "".join(str(rng.randrange(10)) for _ in range(6))
    phone = "09" + "".join(str(rng.randrange(10)) for _ in range(8))
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    return Resident(
        cccd_hash=crypto.lookup_hash(cccd), cccd_enc=crypto.encrypt(cccd),
        birth_date_enc=crypto.encrypt(birth.isoformat()), birth_year=birth.year,
        full_name=name, phone_enc=crypto.encrypt(phone), phone_hash=phone_hash(crypto, phone), commune_id=commune_id,
    )


def demo_admin_file(database_url: str) -> Path:
    """var/demo-admin.txt for the embedded database; another database gets a file of its own, so a
    run against a throw-away database never overwrites the demo's password."""
    if database_url == Settings.model_fields["database_url"].default:
        return VAR_DIR / "demo-admin.txt"
    return VAR_DIR / f"demo-admin-{hashlib.sha256(database_url.encode()).hexdigest()[:10]}.txt"


def ensure_demo_admin(db: Database, database_url: str) -> str | None:
    """Create a first admin for the demo with a random password kept in var/ (mode 600)."""
    with db.write() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.role == "admin")) is not None:
            return None
        password = secrets.token_urlsafe(12)
        session.add(StaffUser(username="admin", password_hash=hash_password(password), role="admin",
                              full_name="Quản trị (demo)"))
    path = demo_admin_file(database_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"username: admin\npassword: {password}\n")
    return str(path)
