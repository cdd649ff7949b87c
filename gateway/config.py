"""Gateway settings, from the environment. A channel is on when its credentials are set."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.core.clientaddr import DEFAULT_TRUSTED_PROXIES

VAR_DIR = Path(__file__).resolve().parents[1] / "var"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    rasa_url: str = "http://127.0.0.1:5005"
    api_url: str = "http://127.0.0.1:8000"
    # Inbox, outbox and channel tokens; separate from the API's database.
    gateway_database_url: str = f"sqlite:///{VAR_DIR / 'gateway.db'}"
    # Where the gateway is reachable from the internet (webhooks, referral links).
    public_url: str = "http://127.0.0.1:8080"
    # Per attempt. A replica still loading its model after a restart accepts connections and answers
    # nothing: the next attempt goes to another. An attempt given up on is not handled late (it carries
    # its deadline) nor twice (bot/channels.py).
    rasa_timeout_s: float = 20.0
    # How long a message is offered again while no Rasa replica answers (one is restarting, or
    # nginx is moving to another); then the resident gets the "busy, try again" reply.
    # 60 s: a message in flight on a replica that died waits for the dead replica's conversation lock
    # (10 s) and then for the survivor, alone with every conversation while the other reloads (the
    # production-profile test measured up to ≈ 45 s). Below nginx's 90 s for the web chat: 60 + one
    # last attempt of 20 s.
    rasa_retry_s: float = 60.0
    # Messages this process has at Rasa at once; the others wait here for a turn, first come first served,
    # within the same budget (gateway/rasa.py). 0: no limit. About twice the Rasa replicas per gateway:
    # a replica then holds two, one handled while the other waits for its actions (2 in deploy/production.env
    # for 2 replicas and 2 gateways, measured there; 1 left Rasa idle, 3 gave back most of the tail).
    rasa_in_flight: int = Field(default=0, ge=0)
    # Several gateway processes: chat turns and send pacing shared through Redis (coordination.py).
    gateway_redis_url: str | None = None
    # A managed Redis' password (a Kubernetes Secret), kept out of the URL, which sits in configuration;
    # Rasa's lock store reads the same variable (deploy/endpoints.yml).
    redis_password: SecretStr | None = None
    # Proxies whose X-Forwarded-For is believed (nginx in front of the web chat), comma-separated
    # networks: the web chat's real address is signed with its chat and the API counts limits per
    # address, so a header sent by anyone else must not choose it.
    trusted_proxies: str = DEFAULT_TRUSTED_PROXIES

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    # "polling" for local use, "webhook" in production (needs PUBLIC_URL and the secret).
    telegram_mode: str = "polling"
    # A local fake of the Bot API in tests; the real one otherwise.
    telegram_api_base: str = "https://api.telegram.org"
    telegram_bot_username: str = ""

    zalo_app_id: str = ""
    zalo_app_secret: SecretStr | None = None
    zalo_oa_secret_key: SecretStr | None = None
    zalo_refresh_token: SecretStr | None = None
    zalo_oa_id: str = ""
    zalo_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"
    # ZNS template messages (reminders to a phone number when the 48 hours are over), with the OA's token.
    zalo_zns_base: str = "https://business.openapi.zalo.me"
    # A signed Zalo event is refused when older than this or stamped further ahead: a captured
    # webhook replayed after the inbox forgot its key (DEDUP_DAYS) must not act again. Zalo's own
    # retries come within a minute or two.
    zalo_event_max_age_s: float = 600.0
    zalo_event_max_ahead_s: float = 120.0

    # Voice notes (gateway/speech.py): "offline" (viet-asr, when installed), "http" (a province's
    # licensed service at SPEECH_URL with SPEECH_KEY) or "off" (voice notes get "please type").
    speech_engine: str = "offline"
    speech_url: str = ""
    speech_key: SecretStr | None = None
    # Transcriptions at once per process (each takes a core for ≈ 0.13 s per second of speech), and how
    # many may wait before a voice note gets the busy reply.
    speech_max_concurrent: int = 1
    speech_max_waiting: int = 8
    # Web chat messages of one client address (an IPv4 address, an IPv6 /64) a process holds at once,
    # waiting for their chat's turn or for Rasa; more get the busy reply. A person writes one message at a
    # time per chat; a commune office's or a carrier's shared address carries a few at the same moment.
    web_messages_in_hand_per_address: int = Field(default=20, ge=0)
    # Web chat voice notes a client address may send a minute (each costs seconds of CPU).
    web_voice_per_minute: int = 6
    # Web chat "find the nearest site" requests a client address may make a minute (each asks the API).
    web_locations_per_minute: int = 6
    # Where Zalo keeps residents' voice notes: a link elsewhere in a (signed) event is not fetched.
    zalo_media_hosts: str = "zdn.vn,zadn.vn,zalo.me,zaloapp.com"

    # SMS brand-name provider (gateway/sms.py): the last step of a reminder's plan. On when the URL and
    # key are set. SMS_WEBHOOK_SECRET is the last part of the delivery-report and inbound ("TC") URL
    # given to the provider: {PUBLIC_URL}/webhooks/sms/<secret>.
    sms_url: str = ""
    sms_brand: str = ""
    sms_api_key: SecretStr | None = None
    sms_secret_key: SecretStr | None = None
    sms_webhook_secret: SecretStr | None = None

    # Outbound limits (Telegram: ~30 messages/s overall, ~1 message/s per chat).
    send_rate_per_s: float = 30.0
    per_chat_interval_s: float = 1.0
    max_send_attempts: int = 8

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def sms_enabled(self) -> bool:
        return bool(self.sms_url) and self.sms_api_key is not None

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_app_id) and self.zalo_oa_secret_key is not None and self.zalo_refresh_token is not None


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
