from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from api.core.clock import local_today
from api.core.types import CodeInPath
from api.deps import DatabaseDep, GatewayOnly, ReadSession, SettingsDep, require_roles
from api.outreach import service
from api.outreach.schemas import EventIn, LinkIn, LinkList, LinkOut, LinkUpdate, Summary
from api.staff.models import StaffUser

router = APIRouter(tags=["outreach"])

CadreUser = Annotated[StaffUser, Depends(require_roles("admin", "cadre"))]
LinkReader = Annotated[StaffUser, Depends(require_roles("admin", "cadre", "station"))]
AdminUser = Annotated[StaffUser, Depends(require_roles("admin"))]


@router.post("/referrals", response_model=LinkOut, status_code=status.HTTP_201_CREATED)
def create_link(body: LinkIn, cadre: CadreUser, database: DatabaseDep, settings: SettingsDep) -> LinkOut:
    with database.write() as db:
        link = service.create_link(db=db, actor=cadre, body=body)
        return service.links_out(db, [link], settings.gateway_public_url)[0]


@router.get("/referrals", response_model=LinkList)
def list_links(staff: LinkReader, db: ReadSession, settings: SettingsDep) -> LinkList:
    return LinkList(items=service.links_out(db, list(db.scalars(service.visible(staff))), settings.gateway_public_url))


@router.get("/referrals/summary", response_model=Summary)
def referral_summary(_admin: AdminUser, db: ReadSession) -> Summary:
    return service.summary(db)


@router.patch("/referrals/{code}", response_model=LinkOut)
def update_link(code: CodeInPath, body: LinkUpdate, cadre: CadreUser, database: DatabaseDep,
                settings: SettingsDep) -> LinkOut:
    with database.write() as db:
        link = service.set_active(db=db, actor=cadre, code=code, active=body.active)
        return service.links_out(db, [link], settings.gateway_public_url)[0]


@router.get("/referrals/{code}/qr.{kind}")
def link_qr(code: CodeInPath, kind: str, staff: LinkReader, db: ReadSession, settings: SettingsDep) -> Response:
    link = service.get_visible(db, staff, code)
    if kind not in ("png", "svg"):
        raise service.LinkNotFound()
    image = service.qr_image(f"{settings.gateway_public_url.rstrip('/')}/r/{link.code}", kind)
    return Response(image, media_type="image/png" if kind == "png" else "image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="ma-qr-{link.code}.{kind}"'})


@router.post("/referrals/{code}/events", status_code=status.HTTP_204_NO_CONTENT, dependencies=[GatewayOnly])
def record_event(code: CodeInPath, body: EventIn, database: DatabaseDep) -> None:
    """The gateway reports a link opened or a chat started from it (counted per day, no identities)."""
    with database.write() as db:
        service.record_event(db=db, code=code, kind=body.kind, day=local_today())
