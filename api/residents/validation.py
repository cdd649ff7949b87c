"""Transitional: the checks on what a resident types live in `common.identity` and `mask` in
`common.masking`, shared with the bot. Re-exported here only for the importers not yet moved there."""

from __future__ import annotations

from common.identity import (
    MAX_AGE_YEARS,
    CCCDBirthMismatch,
    InvalidBirthDate,
    InvalidCCCD,
    InvalidName,
    InvalidPhone,
    check_birth_date,
    check_cccd_matches_birth_date,
    normalize_cccd,
    normalize_name,
    normalize_phone,
)
from common.masking import mask

__all__ = ["MAX_AGE_YEARS", "CCCDBirthMismatch", "InvalidBirthDate", "InvalidCCCD", "InvalidName", "InvalidPhone",
           "check_birth_date", "check_cccd_matches_birth_date", "mask", "normalize_cccd", "normalize_name",
           "normalize_phone"]
