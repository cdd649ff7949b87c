"""Which notice a resident said yes to. Staff can edit the consent questions in the content studio,
so the version filed with a consent is the notice series plus a fingerprint of the exact published
wording shown (e.g. "2026-01.3fa9c2"): every "yes" can be matched to the words it answered, through
the studio's revision history."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from rasa_sdk.types import DomainDict

from actions.content import ContentCache

NOTICE_VERSION = "2026-01"


@lru_cache(maxsize=1)
def shared_content() -> ContentCache:
    """One cache of published texts per action server process, made on first use."""
    return ContentCache()


async def notice_version(message: str, domain: DomainDict, content: ContentCache | None = None) -> str:
    """The version of consent message `message` (e.g. utter_ask_consent_booking) as residents see it now."""
    content = content or shared_content()
    await content.get()
    variants = (domain.get("responses") or {}).get(message) or [{}]
    text = content.text(message, "vi") or str(variants[0].get("text", ""))
    return f"{NOTICE_VERSION}.{hashlib.sha256(text.encode()).hexdigest()[:6]}"
