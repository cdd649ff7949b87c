"""Keyed hashing and field encryption for personal data (CCCD, phone, birth date).

Everything is derived from one master secret so a deployment manages a single key. Rotation:
set SECRET_KEY to the new secret and PREVIOUS_SECRET_KEYS to the old ones (comma-separated);
encrypted fields stay readable through MultiFernet and are re-encrypted with the new key by
`python -m api rotate-keys`; keyed hashes are recomputed by the same command.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cached_property

from cryptography.fernet import MultiFernet

from api.core.config import Settings
from common.keys import (
    chat_identity_key,
    derive,
    internal_token,
    multi_fernet,
    read_or_create_secret_file,
    split_previous,
)


def load_master_secret(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    return read_or_create_secret_file(settings.secret_key_file)


@dataclass(frozen=True)
class Crypto:
    hash_key: bytes
    token_key: bytes
    fernet: MultiFernet
    internal_token: str
    # Verifies the chat identity the gateway signs (common.chat_identity).
    chat_identity_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Crypto:
        master = load_master_secret(settings)
        previous = split_previous(settings.previous_secret_keys)
        return cls(
            hash_key=derive(master, b"lookup-hash"),
            token_key=derive(master, b"staff-tokens"),
            fernet=multi_fernet(master, previous, b"field-encryption"),
            internal_token=internal_token(master),
            chat_identity_key=chat_identity_key(master),
        )

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self.hash_key, value.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value: str) -> str:
        return self.fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self.fernet.decrypt(token.encode()).decode()

    @cached_property
    def decoy_token(self) -> str:
        """Decrypted by identity checks when nobody matches, so that path costs what a match costs."""
        return self.encrypt("1900-01-01")

    def reencrypt(self, token: str) -> str:
        return self.fernet.rotate(token.encode()).decode()
