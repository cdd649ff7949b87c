"""Keyed hashing and field encryption for personal data (CCCD, phone, birth date).

Everything is derived from one master secret so a deployment manages a single key. Rotation:
set SECRET_KEY to the new secret and PREVIOUS_SECRET_KEYS to the old ones (comma-separated);
encrypted fields stay readable through MultiFernet and are re-encrypted with the new key by
`python -m api rotate-keys`; keyed hashes are recomputed by the same command.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.core.config import Settings


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"khamsuckhoe", info=purpose).derive(secret)


def load_master_secret(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    return _read_or_create_secret_file(settings.secret_key_file)


def _read_or_create_secret_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48).encode()
    # O_EXCL: if two processes start together, exactly one writes and both read the same key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret


@dataclass(frozen=True)
class Crypto:
    hash_key: bytes
    token_key: bytes
    fernet: MultiFernet

    @classmethod
    def from_settings(cls, settings: Settings) -> Crypto:
        master = load_master_secret(settings)
        previous = [s.strip().encode() for s in settings.previous_secret_keys.split(",") if s.strip()]
        fernets = [
            Fernet(base64.urlsafe_b64encode(_derive(secret, b"field-encryption")))
            for secret in [master, *previous]
        ]
        return cls(
            hash_key=_derive(master, b"lookup-hash"),
            token_key=_derive(master, b"staff-tokens"),
            fernet=MultiFernet(fernets),
        )

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self.hash_key, value.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value: str) -> str:
        return self.fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self.fernet.decrypt(token.encode()).decode()

    def reencrypt(self, token: str) -> str:
        return self.fernet.rotate(token.encode()).decode()
