"""The quotas resident requests spend, per source (see `Origin.sources`), from the settings."""

from __future__ import annotations

from api.core.config import Settings
from api.core.crypto import Crypto
from api.security.limits import Rule
from api.security.origin import Origin


def _by_kind(origin: Origin, crypto: Crypto, kind: str, *, chat: Rule, address: Rule, other: Rule
             ) -> dict[str, Rule]:
    rules = {"chat": chat, "addr": address}
    return {subject: rules.get(subject.split(":")[0].removeprefix(kind + "-"), other)
            for subject in origin.sources(crypto, kind)}


def booking_quotas(settings: Settings, crypto: Crypto, origin: Origin) -> dict[str, Rule]:
    """New bookings per chat, per address, and per credential or staff account used without a chat."""
    return _by_kind(
        origin, crypto, "book",
        chat=Rule.per_minutes(settings.bookings_per_chat, settings.bookings_per_chat_window_minutes),
        address=Rule.per_minutes(settings.bookings_per_address, settings.bookings_per_address_window_minutes),
        other=Rule.per_minutes(settings.bookings_per_credential, settings.bookings_per_credential_window_minutes))


def write_quotas(settings: Settings, crypto: Crypto, origin: Origin, kind: str, *, scale: int = 1
                 ) -> dict[str, Rule]:
    """Stored writes a chat can cause without booking (unanswered questions, scam reports, speech —
    `scale` times more of those, one per bot message for a listener). Calls without a chat count
    against their credential at the address rate."""
    window = settings.resident_writes_window_minutes
    address = Rule.per_minutes(settings.resident_writes_per_address * scale, window)
    return _by_kind(origin, crypto, kind, chat=Rule.per_minutes(settings.resident_writes_per_chat * scale, window),
                    address=address, other=address)
