"""Where a resident request comes from, proven — the API's trust boundary for resident endpoints.

A resident never calls the API: the action server does, for a chat, with a service credential
(`Authorization: Bearer ksk_svc_…`) and the chat identity the gateway signed (`X-Chat-Identity`).
Staff tokens are accepted too (a station worker acting for someone). Anything else — a script on
the internet — is refused before any work is done. Limits then count per verified chat, per the
resident's real address (signed with the chat) and, for calls without a chat, per credential:
never per a field the caller chose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.core.clientaddr import address_bucket
from api.core.crypto import Crypto
from api.core.errors import Forbidden, NotAuthenticated
from api.deps import CryptoDep, DatabaseDep, staff_session
from api.security.credentials import CredentialCache, looks_like_credential
from api.staff.models import StaffUser
from common import chat_identity
from common.chat_identity import ChatIdentity


class ServiceCredentialRequired(NotAuthenticated):
    code = "service_credential_required"
    message = ("Yêu cầu này chỉ nhận qua trợ lý khám sức khỏe trên Zalo, Telegram hoặc trang web, "
               "hoặc từ tài khoản cán bộ.")


class InvalidChatIdentity(NotAuthenticated):
    code = "invalid_chat_identity"
    message = "Không xác minh được cuộc trò chuyện gửi yêu cầu này."


@dataclass(frozen=True)
class Origin:
    """Who is asking: our service (by credential name) or a staff account, and for which chat."""

    credential: str | None
    staff: StaffUser | None
    chat: ChatIdentity | None

    def chat_hash(self, crypto: Crypto) -> str | None:
        """Keyed fingerprint of the chat, stored with what it creates (a booking) to recognise it later."""
        return crypto.lookup_hash("chat|" + self.chat.chat_key) if self.chat else None

    def sources(self, crypto: Crypto, kind: str) -> list[str]:
        """Counter subjects for this request, prefixed by `kind` (what is being counted).

        A chat and its address both count; a call without a chat counts against its credential
        or staff account, so an outside check cannot escape limits by leaving the chat out."""
        subjects = []
        if self.chat is not None:
            subjects.append(f"{kind}-chat:{crypto.lookup_hash('chat|' + self.chat.chat_key)[:40]}")
            if self.chat.address:
                bucket = address_bucket(self.chat.address)
                subjects.append(f"{kind}-addr:{crypto.lookup_hash('addr|' + bucket)[:40]}")
        elif self.staff is not None:
            subjects.append(f"{kind}-staff:{self.staff.id}")
        else:
            subjects.append(f"{kind}-svc:{(self.credential or '')[:40]}")
        return subjects


_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def credential_cache(request: Request) -> CredentialCache:
    cache: CredentialCache | None = getattr(request.app.state, "credentials", None)
    if cache is None:
        cache = request.app.state.credentials = CredentialCache()
    return cache


async def resident_origin(
    request: Request, database: DatabaseDep, crypto: CryptoDep, token: Annotated[str | None, Depends(_bearer)],
) -> Origin:
    # async: a sync dependency costs every resident request a thread-pool hop; the only blocking
    # work is a credential's lookup once per CACHE_S, or a staff token's (rare on these paths).
    if not token:
        raise ServiceCredentialRequired()
    credential = staff = None
    if looks_like_credential(token):
        credential = credential_cache(request).name_for(database, token)
        if credential is None:
            raise ServiceCredentialRequired("Khóa dịch vụ không hợp lệ hoặc đã bị thu hồi.")
    else:
        staff = staff_session(database, crypto, token).user
        # Station staff (of a commune) and admins act for residents; other roles have no business here.
        if staff.role not in ("admin", "station") or (staff.role == "station" and staff.commune_id is None):
            raise Forbidden()
    signed = request.headers.get(chat_identity.HEADER)
    chat = None
    if signed:
        chat = chat_identity.verify(crypto.chat_identity_key, signed, now=time.time())
        if chat is None:
            raise InvalidChatIdentity()
    return Origin(credential=credential, staff=staff, chat=chat)


ResidentOrigin = Annotated[Origin, Depends(resident_origin)]
