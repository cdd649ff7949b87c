from __future__ import annotations

import math
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.audit.service import Actor, record
from api.communes.models import Commune, Province, Site
from api.communes.schemas import KIND_LABELS, CommuneCreate, CommuneOut, SiteCreate, SiteDetail, SiteUpdate
from api.core.errors import Conflict, Forbidden, NotFound
from api.core.text import compact, search_key
from common.errors import InvalidInput
from vntext import nfc


class ScopedActor(Actor, Protocol):
    """A staff account as the station scope reads it (api.staff.models.StaffUser): a station's account
    manages its own commune only."""

    @property
    def role(self) -> str: ...

    @property
    def commune_id(self) -> int | None: ...


class StationWithoutCommune(Forbidden):
    code = "station_without_commune"
    message = "Tài khoản trạm y tế này chưa được gắn với xã/phường nào nên chưa dùng được. Xin liên hệ quản trị viên."


class CommuneNotFound(NotFound):
    code = "commune_not_found"
    message = "Không tìm thấy xã/phường này."


class SiteNotFound(NotFound):
    code = "site_not_found"
    message = "Không tìm thấy điểm khám này."


class CoordinatesIncomplete(InvalidInput):
    code = "coordinates_incomplete"
    message = "Cần nhập cả vĩ độ và kinh độ của điểm khám (hoặc để trống cả hai)."


class CommuneCodeTaken(Conflict):
    code = "commune_code_taken"
    message = "Mã xã/phường này đã có."


def commune_out(commune: Commune) -> CommuneOut:
    return CommuneOut(
        id=commune.id, code=commune.code, name=commune.name, kind=commune.kind,
        full_name=f"{KIND_LABELS[commune.kind]} {commune.name}", province=commune.province.name,
    )


def site_out(site: Site) -> SiteDetail:
    return SiteDetail(
        id=site.id, commune_id=site.commune_id, commune_name=site.commune.name, name=site.name,
        kind=site.kind, address=site.address, phone=site.phone, active=site.active,
        latitude=site.latitude, longitude=site.longitude,
    )


def search_communes(*, db: Session, q: str | None, limit: int) -> list[Commune]:
    """Diacritics-insensitive search: exact name first, then names starting with the query,
    then names containing it; 'huu lien', 'Hữu Liên', 'xa huu lien' and 'huulien' all match."""
    stmt = select(Commune)
    if q is None or not search_key(q):
        return list(db.scalars(stmt.order_by(Commune.search_key).limit(limit)))
    key, packed = search_key(q), compact(q)
    stmt = stmt.where(or_(Commune.search_key.contains(key), Commune.compact_key.contains(packed)))
    matches = db.scalars(stmt.limit(500)).all()

    def rank(commune: Commune) -> tuple[int, str]:
        if commune.search_key == key or commune.compact_key == packed:
            return (0, commune.search_key)
        if commune.search_key.startswith(key) or commune.compact_key.startswith(packed):
            return (1, commune.search_key)
        return (2, commune.search_key)

    return sorted(matches, key=rank)[:limit]


def get_commune(db: Session, commune_id: int) -> Commune:
    commune = db.get(Commune, commune_id)
    if commune is None:
        raise CommuneNotFound()
    return commune


def create_commune(*, db: Session, actor: ScopedActor, body: CommuneCreate) -> Commune:
    if db.scalar(select(Commune.id).where(Commune.code == body.code)) is not None:
        raise CommuneCodeTaken()
    province = db.scalar(select(Province).where(Province.code == body.province_code))
    if province is None:
        province = Province(code=body.province_code, name=nfc(body.province_name))
        db.add(province)
    name = nfc(body.name).strip()
    commune = Commune(
        province=province, code=body.code, name=name, kind=body.kind,
        search_key=search_key(name), compact_key=compact(name),
    )
    db.add(commune)
    db.flush()
    record(db, actor=actor, action="commune.create", entity="commune", entity_id=commune.id, code=body.code)
    return commune


def check_station_scope(actor: ScopedActor, commune_id: int) -> None:
    """Station staff manage only their own commune's sites, sessions and people; a station account
    without a commune manages none (it must never fall through to "every commune")."""
    if actor.role != "station":
        return
    if actor.commune_id is None:
        raise StationWithoutCommune()
    if actor.commune_id != commune_id:
        raise Forbidden("Anh/chị chỉ quản lý được điểm khám thuộc xã/phường của mình.")


def station_commune(actor: ScopedActor, requested: int | None) -> int | None:
    """The commune a listing is limited to: a station's own (whatever was asked), else the one asked."""
    if actor.role != "station":
        return requested
    if actor.commune_id is None:
        raise StationWithoutCommune()
    return actor.commune_id


def check_coordinates(latitude: float | None, longitude: float | None) -> None:
    """Half a position is a typing slip, not a place (the database refuses it too)."""
    if (latitude is None) != (longitude is None):
        raise CoordinatesIncomplete()


def create_site(*, db: Session, actor: ScopedActor, body: SiteCreate) -> Site:
    check_coordinates(body.latitude, body.longitude)
    get_commune(db, body.commune_id)
    check_station_scope(actor, body.commune_id)
    site = Site(**body.model_dump())
    site.name = nfc(site.name).strip()
    db.add(site)
    db.flush()
    record(db, actor=actor, action="site.create", entity="site", entity_id=site.id)
    return site


def get_site(db: Session, site_id: int) -> Site:
    site = db.get(Site, site_id)
    if site is None:
        raise SiteNotFound()
    return site


POSITION = frozenset({"latitude", "longitude"})


def update_site(*, db: Session, actor: ScopedActor, site_id: int, changes: SiteUpdate) -> Site:
    position = changes.model_fields_set & POSITION
    # Null elsewhere means "leave as is"; for the position, both null means "clear it", so the pair
    # is read on its own and must come whole.
    if position and position != POSITION:
        raise CoordinatesIncomplete()
    check_coordinates(changes.latitude, changes.longitude)
    site = get_site(db, site_id)
    check_station_scope(actor, site.commune_id)
    fields = {k: v for k, v in changes.model_dump(exclude_unset=True).items() if v is not None and k not in POSITION}
    for name, value in fields.items():
        setattr(site, name, nfc(value) if isinstance(value, str) else value)
    detail: dict[str, Any] = {}
    if position:
        # A site's position is public (it is on the sign outside); the audit keeps the old and new one.
        detail = {"position_before": [site.latitude, site.longitude],
                  "position_after": [changes.latitude, changes.longitude]}
        site.latitude, site.longitude = changes.latitude, changes.longitude
    record(db, actor=actor, action="site.update", entity="site", entity_id=site.id,
           fields=sorted(fields.keys() | position), **detail)
    return site


# --- the nearest sites to a shared location ---

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
NEAREST_WITHIN_KM = 50.0  # farther than this is another district's business, or outside the province


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) on the mean sphere: off the ellipsoid's by under 0.5 %."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest_sites(
    *, db: Session, latitude: float, longitude: float, limit: int, within_km: float = NEAREST_WITHIN_KM,
) -> list[tuple[Site, float]]:
    """Active sites with a position, within `within_km`, nearest first (ties by id), with their distance.

    The resident's position never goes into SQL: every positioned site (a province holds a few hundred)
    is read and measured here, so no query parameter, slow-query log or statement cache of the database
    can carry it."""
    placed = db.execute(
        select(Site.id, Site.latitude, Site.longitude)
        .where(Site.active.is_(True), Site.latitude.is_not(None), Site.longitude.is_not(None))
    ).all()
    measured = sorted(
        (distance, site_id) for site_id, lat, lon in placed
        if lat is not None and lon is not None  # the query says so; this tells the type checker
        and (distance := distance_km(latitude, longitude, lat, lon)) <= within_km
    )[:limit]
    sites = {site.id: site for site in db.scalars(select(Site).where(Site.id.in_([i for _, i in measured])))}
    return [(sites[site_id], distance) for distance, site_id in measured]
