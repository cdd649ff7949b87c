"""The one counted identity check (CCCD with birth date) every identity-checked resident request goes through."""
