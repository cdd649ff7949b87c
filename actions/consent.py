"""Which notice a resident said yes to. Staff can edit the consent questions in the content studio,
so the version filed with a consent is the notice series plus a fingerprint of the exact published
wording shown (e.g. "2026-01.3fa9c2"): every "yes" can be matched to the words it answered, through
the studio's revision history."""

from __future__ import annotations

import hashlib

from actions.content import ContentCache

NOTICE_VERSION = "2026-01"


async def notice_version(message: str, content: ContentCache) -> str:
    """The version of consent message `message` (e.g. utter_ask_consent_booking) as residents see it now:
    the Vietnamese wording published, else the domain's (the seed)."""
    await content.get()
    text = content.find(message, "vi") or ""
    return f"{NOTICE_VERSION}.{hashlib.sha256(text.encode()).hexdigest()[:6]}"
