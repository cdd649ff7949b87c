"""Keys derived from the deployment's master secret, the same way in every process.

The API (its encrypted columns, tokens), the gateway (chat identities, its reports to the API) and the
Rasa server's conversation store (bot/tracker_store.py) each derive the keys they need from one
master secret: a leak of one derived key exposes nothing else, and rotating the master secret
(PREVIOUS_SECRET_KEYS) rotates them all. `cryptography` is installed in both environments.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive(secret: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose: a leak of one derived key exposes nothing else."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"khamsuckhoe", info=purpose).derive(secret)


def internal_token(secret: bytes) -> str:
    """What the gateway shows the API when it reports channel events: both derive it from the master secret."""
    return derive(secret, b"internal-services").hex()


def chat_identity_key(secret: bytes) -> bytes:
    """Signs and verifies the chat identity the gateway gives each message (common.chat_identity)."""
    return derive(secret, b"chat-identity")


def read_or_create_secret_file(path: Path) -> bytes:
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


def split_previous(previous: str) -> list[bytes]:
    return [s.strip().encode() for s in previous.split(",") if s.strip()]


def multi_fernet(master: bytes, previous: list[bytes], purpose: bytes) -> MultiFernet:
    """Encrypts with the current key, decrypts with it or any previous one (key rotation)."""
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derive(secret, purpose))) for secret in [master, *previous]])


def master_from_environment(default_file: Path) -> tuple[bytes, list[bytes]]:
    """SECRET_KEY / SECRET_KEY_FILE / PREVIOUS_SECRET_KEYS read the way the API's settings read them."""
    explicit = os.environ.get("SECRET_KEY")
    master = explicit.encode() if explicit else read_or_create_secret_file(
        Path(os.environ.get("SECRET_KEY_FILE") or default_file))
    return master, split_previous(os.environ.get("PREVIOUS_SECRET_KEYS", ""))
