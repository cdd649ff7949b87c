"""Cadres' booking links: created per organisation and commune, shared as a short URL, a QR code and
a ready-made message, and measured as a funnel — opened, chat started, booked, attended — in counts
only: nothing here says who opened, chatted or booked."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable, Mapping
from datetime import date

import segno
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings.models import Booking
from api.communes.models import Commune
from api.communes.service import get_commune
from api.content.service import message_texts, text_for
from api.core.counters import increment
from api.core.errors import Forbidden, NotFound
from api.outreach.models import ORGANISATIONS, ReferralCount, ReferralLink
from api.outreach.schemas import Funnel, LinkIn, LinkOut, Summary, SummaryRow
from api.staff.models import StaffUser
from vntext import nfc

# Read aloud and typed from paper: no 0/O, 1/I.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class LinkNotFound(NotFound):
    code = "referral_not_found"
    message = "Không tìm thấy đường dẫn giới thiệu này."


def new_code(organisation: str) -> str:
    prefix = ORGANISATIONS[organisation][0]
    return f"{prefix}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def create_link(*, db: Session, actor: StaffUser, body: LinkIn) -> ReferralLink:
    commune = get_commune(db, body.commune_id)
    if actor.role == "cadre" and actor.commune_id is not None and actor.commune_id != commune.id:
        raise Forbidden("Anh/chị chỉ tạo được đường dẫn cho xã/phường của mình.")
    code = new_code(body.organisation)
    while db.scalar(select(ReferralLink.id).where(ReferralLink.code == code)) is not None:
        code = new_code(body.organisation)
    link = ReferralLink(code=code, organisation=body.organisation, commune_id=commune.id, cadre_id=actor.id,
                        label=nfc(body.label).strip())
    db.add(link)
    db.flush()
    record(db, actor=actor, action="referral.create", entity="referral", entity_id=code,
           organisation=body.organisation, commune_id=commune.id)
    return link


def visible(actor: StaffUser) -> Select[ReferralLink]:
    """Cadres see their own links; station staff those of their commune; admins all."""
    query = select(ReferralLink).order_by(ReferralLink.id.desc())
    if actor.role == "cadre":
        return query.where(ReferralLink.cadre_id == actor.id)
    if actor.role == "station" and actor.commune_id is not None:
        return query.where(ReferralLink.commune_id == actor.commune_id)
    return query


def get_visible(db: Session, actor: StaffUser, code: str) -> ReferralLink:
    link = db.scalar(visible(actor).where(ReferralLink.code == code))
    if link is None:
        raise LinkNotFound()
    return link


def set_active(*, db: Session, actor: StaffUser, code: str, active: bool) -> ReferralLink:
    link = get_visible(db, actor, code)
    link.active = active
    record(db, actor=actor, action="referral.update", entity="referral", entity_id=code, active=active)
    return link


def funnels(db: Session, links: Iterable[ReferralLink]) -> dict[int, Funnel]:
    links = list(links)
    result = {link.id: Funnel() for link in links}
    if not links:
        return result
    by_code = {link.code: link.id for link in links}
    for link_id, kind, total in db.execute(
            select(ReferralCount.link_id, ReferralCount.kind, func.sum(ReferralCount.count))
            .where(ReferralCount.link_id.in_(result)).group_by(ReferralCount.link_id, ReferralCount.kind)):
        setattr(result[link_id], kind, int(total))
    attended = func.sum(case((Booking.status == "attended", 1), else_=0))
    for code, booked, came in db.execute(
            select(Booking.referral_code, func.count(Booking.id), attended)
            .where(Booking.referral_code.in_(by_code)).group_by(Booking.referral_code)):
        funnel = result[by_code[code]]
        funnel.booked, funnel.attended = int(booked), int(came or 0)
    return result


def record_event(*, db: Session, code: str, kind: str, day: date) -> None:
    """Adds one to a link's count for the day; one statement, so concurrent clicks are all counted."""
    link_id = db.scalar(select(ReferralLink.id).where(ReferralLink.code == code, ReferralLink.active.is_(True)))
    if link_id is None:
        raise LinkNotFound()
    increment(db, ReferralCount, {"link_id": link_id, "day": day, "kind": kind})


def summary(db: Session) -> Summary:
    links = list(db.scalars(select(ReferralLink)))
    per_link = funnels(db, links)
    communes = {row[0]: row[1] for row in db.execute(select(Commune.id, Commune.name))}

    def rows(key_of: dict[int, str], name_of: dict[str, str]) -> list[SummaryRow]:
        grouped: dict[str, SummaryRow] = {}
        for link in links:
            key = key_of[link.id]
            row = grouped.setdefault(key, SummaryRow(key=key, name=name_of.get(key, key), links=0, funnel=Funnel()))
            row.links += 1
            _add(row.funnel, per_link[link.id])
        return sorted(grouped.values(), key=lambda r: (-r.funnel.booked, r.name))

    total = Funnel()
    for funnel in per_link.values():
        _add(total, funnel)
    return Summary(
        organisations=rows({link.id: link.organisation for link in links},
                           {key: name for key, (_prefix, name) in ORGANISATIONS.items()}),
        communes=rows({link.id: str(link.commune_id) for link in links},
                      {str(cid): name for cid, name in communes.items()}),
        total=total,
    )


def _add(into: Funnel, other: Funnel) -> None:
    for name in Funnel.model_fields:
        setattr(into, name, getattr(into, name) + getattr(other, name))


SHARE_TEXT = "referral_share_text"


def share_text(texts: Mapping[str, Mapping[str, str]], *, organisation: str, commune: str, url: str) -> str:
    """What a cadre pastes into a Zalo group: free, how to book, and the scam warning the plan asks for.
    Residents read it, so it is a message of the content store (bot/texts/reminders.yml), in Vietnamese."""
    return text_for(texts, SHARE_TEXT, "vi",
                    {"organisation": ORGANISATIONS[organisation][1], "commune": commune, "url": url})


def qr_image(url: str, kind: str) -> bytes:
    """A QR code that prints sharply on a poster (error correction M tolerates a crease or a smudge)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind=kind, scale=10 if kind == "png" else 4, border=2)
    return buffer.getvalue()


def link_out(link: ReferralLink, commune: str, funnel: Funnel, gateway_url: str,
             texts: Mapping[str, Mapping[str, str]]) -> LinkOut:
    url = f"{gateway_url.rstrip('/')}/r/{link.code}"
    return LinkOut(
        code=link.code, organisation=link.organisation, organisation_name=ORGANISATIONS[link.organisation][1],
        commune_id=link.commune_id, commune=commune, label=link.label, active=link.active,
        created_at=link.created_at, short_url=url, qr_png_url=f"/api/v1/referrals/{link.code}/qr.png",
        qr_svg_url=f"/api/v1/referrals/{link.code}/qr.svg",
        share_text=share_text(texts, organisation=link.organisation, commune=commune, url=url), funnel=funnel)


def links_out(db: Session, links: list[ReferralLink], gateway_url: str) -> list[LinkOut]:
    names = {row[0]: row[1] for row in db.execute(select(Commune.id, Commune.name).where(
        Commune.id.in_({link.commune_id for link in links})))}
    per_link = funnels(db, links)
    texts = message_texts(db, [SHARE_TEXT])
    return [link_out(link, names.get(link.commune_id, ""), per_link[link.id], gateway_url, texts) for link in links]
