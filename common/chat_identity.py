"""The chat a resident request comes from, signed by the gateway and verified by the API.

The gateway is the only component that sees a chat's platform identity (Telegram and Zalo check
it for us; the web chat's id is the browser's choice, so its client address is signed with it).
It signs `{channel, sender, address, issued}` with a key both derive from the master secret and
puts the token in the message metadata (`chat_identity`); the action server passes it through as
the `X-Chat-Identity` header. The API then counts limits per verified chat and address — never
per a field the caller chose. Plain Python (hmac, json, base64): both runtimes import it; the key is
derived from the master secret by `common.keys.chat_identity_key`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

HEADER = "X-Chat-Identity"
METADATA_KEY = "chat_identity"
# A token rides one resident message through Rasa (retried for up to ~45 s) into the actions it
# triggers; half an hour covers a slow turn without making a leaked token useful for long.
MAX_AGE_S = 30 * 60
_CLOCK_SKEW_S = 60


@dataclass(frozen=True)
class ChatIdentity:
    channel: str
    sender: str
    # The resident's own network address where the channel exposes it (web chat), else "".
    address: str
    issued: int

    @property
    def chat_key(self) -> str:
        """Stable name of the chat, e.g. "telegram:12345" — the Rasa sender id."""
        return f"{self.channel}:{self.sender}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, *, channel: str, sender: str, address: str = "", now: float) -> str:
    payload = json.dumps({"c": channel, "s": sender, "a": address, "t": int(now)},
                         separators=(",", ":"), ensure_ascii=False).encode()
    signature = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def verify(key: bytes, token: str, *, now: float, max_age_s: int = MAX_AGE_S) -> ChatIdentity | None:
    """The identity a token proves, or None for anything forged, malformed or stale."""
    if not token or len(token) > 1024 or token.count(".") != 1:
        return None
    payload_b64, signature_b64 = token.split(".")
    try:
        payload, signature = _unb64(payload_b64), _unb64(signature_b64)
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest(), signature):
        return None
    try:
        claims = json.loads(payload)
        identity = ChatIdentity(channel=str(claims["c"]), sender=str(claims["s"]), address=str(claims["a"]),
                                issued=int(claims["t"]))
    except (ValueError, KeyError, TypeError, OverflowError):
        return None
    if not identity.channel or not identity.sender or not -_CLOCK_SKEW_S <= now - identity.issued <= max_age_s:
        return None
    return identity
