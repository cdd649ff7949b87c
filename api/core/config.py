"""Settings read once from the environment and injected where needed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.core.clientaddr import DEFAULT_TRUSTED_PROXIES
from common.vocabulary import TIME_ZONE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = PROJECT_ROOT / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = f"sqlite:///{VAR_DIR / 'khamsuckhoe.db'}"
    # Master secret for tokens, keyed hashes and field encryption. When unset (the embedded
    # default), a random one is created once in var/secret.key; production sets SECRET_KEY.
    secret_key: SecretStr | None = None
    secret_key_file: Path = VAR_DIR / "secret.key"
    previous_secret_keys: str = ""
    access_token_minutes: int = 8 * 60
    timezone: str = TIME_ZONE
    max_body_bytes: int = 64 * 1024
    sqlite_busy_timeout_ms: int = 30_000
    sql_echo: bool = False
    # CSV imports of record status are larger than any JSON request.
    max_import_bytes: int = 5 * 1024 * 1024

    # Identity checks (record status, "what do you hold", erase): every attempt of a chat counts;
    # for a CCCD only failures count, so its owner is not locked out by their own lookups.
    lookup_chat_attempts: int = 10
    lookup_chat_window_minutes: int = 60
    lookup_cccd_failures: int = 3
    lookup_cccd_window_minutes: int = 24 * 60
    # Per client address (from the gateway-signed chat identity), like a chat but for people
    # behind one address (a village's shared Wi-Fi, a carrier's NAT): looser.
    lookup_address_attempts: int = 30
    lookup_address_window_minutes: int = 60
    # All sources together: a flood of failures never locks everyone out; past this many it
    # tightens every source to one failure and alerts staff.
    lookup_global_failures: int = 500
    lookup_global_window_minutes: int = 60
    # A CCCD's failures from any source: past this the person's online checks pause (the
    # station still serves them) and the commune's staff are alerted; per source the limit is
    # `lookup_cccd_failures`.
    lookup_person_failures: int = 10
    # The first lockout lasts this long, each next one twice as long, up to the cap.
    lockout_base_minutes: int = 60
    lockout_max_minutes: int = 30 * 24 * 60

    # Retention: personal data of residents with no activity for this long is erased by
    # `python -m api purge`; replay records of bookings are needed only for client retries.
    personal_data_retention_days: int = 2 * 365
    idempotency_key_days: int = 7

    # Audio: recordings uploaded by staff and speech synthesised for dynamic Vietnamese text.
    audio_dir: Path = VAR_DIR / "audio"
    audio_max_bytes: int = 15 * 1024 * 1024
    audio_max_seconds: int = 180
    # gTTS needs Google; when it fails, espeak-ng speaks offline and gTTS is not tried again for a while.
    tts_online: bool = True
    tts_timeout_s: float = 4.0
    tts_retry_after_s: int = 300
    # The channel gateway as residents reach it: cadres' short links and QR codes point there.
    gateway_public_url: str = "http://127.0.0.1:8080"
    # The gateway as the scheduler reaches it (reminders and announcements are handed to it).
    gateway_internal_url: str = "http://127.0.0.1:8080"
    # Announcements are handed to the gateway no faster than this (Telegram allows about 30 a second
    # for a bot; the gateway paces the actual sends too).
    broadcast_rate_per_s: float = 25.0
    # Where residents' apps fetch audio from (the API's address as seen from outside); unset: the request's.
    public_base_url: str | None = None
    # Reminders outside the chat (api/notifications/plan.py): the SMS provider's alphabet — "gsm7" sends
    # the Vietnamese without diacritics in one 160-character segment; "unicode" keeps them, 70 characters —
    # and the number residents text "TC" to so that reminders stop (the provider's inbound keyword).
    sms_encoding: str = Field(default="gsm7", pattern="^(gsm7|unicode)$")
    sms_stop_number: str = "8077"

    # Seat hoarding: new bookings per verified chat, per client address and per service
    # credential used without a chat (outside checks), each per window.
    bookings_per_chat: int = 4
    bookings_per_chat_window_minutes: int = 24 * 60
    bookings_per_address: int = 20
    bookings_per_address_window_minutes: int = 60
    bookings_per_credential: int = 600
    bookings_per_credential_window_minutes: int = 60
    # A session receiving more bookings than this within a minute gets a staff alert: a resident
    # needs a few minutes of typing per booking.
    booking_burst_alert_per_minute: int = 12
    # Wrong booking codes or second factors per source before lookups by code pause.
    code_failures: int = 10
    code_failures_window_minutes: int = 60
    # Wrong second factors for one booking, from any source, per day: past this only the chat that
    # booked or the station can use its code (three digits are few; sources can be many).
    booking_factor_failures: int = 5
    # Anonymous-origin writes (unanswered questions, scam reports, speech) per chat / address.
    resident_writes_per_chat: int = 60
    resident_writes_per_address: int = 300
    resident_writes_window_minutes: int = 60
    # Synthesised speech files not played for this long are deleted by `python -m api purge`.
    speech_cache_days: int = 30

    # Staff accounts. Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (nginx on this
    # machine by default; comma-separated networks): anyone else's are their own claim.
    trusted_proxies: str = DEFAULT_TRUSTED_PROXIES
    # Failed staff logins per typed username and per client address; past either, logins from
    # there pause for `login_lockout_minutes`, doubled with each lockout up to the cap (short, so
    # a stranger typing a staff member's name cannot keep them out for long; an admin can unlock).
    login_user_failures: int = 5
    login_user_window_minutes: int = 15
    login_address_failures: int = 20
    login_address_window_minutes: int = 15
    login_lockout_minutes: int = 15
    login_lockout_max_minutes: int = 4 * 60
    # The staff pages' login cookie is Secure when this is true, or when unset and the public
    # address is https or the request came over https (as a trusted proxy says).
    staff_cookie_secure: bool | None = None
    # Shown in authenticator apps next to the staff member's name.
    totp_issuer: str = "Kham suc khoe"


@lru_cache
def get_settings() -> Settings:
    return Settings()
