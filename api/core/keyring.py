"""Transitional: key derivation lives in `common.keys`, shared with the Rasa side. Re-exported here
only for the importers not yet moved there (the gateway, tests, benchmarks)."""

from __future__ import annotations

from common.keys import (
    chat_identity_key,
    derive,
    internal_token,
    master_from_environment,
    multi_fernet,
    read_or_create_secret_file,
    split_previous,
)

__all__ = ["chat_identity_key", "derive", "internal_token", "master_from_environment", "multi_fernet",
           "read_or_create_secret_file", "split_previous"]
