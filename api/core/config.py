"""Settings read once from the environment and injected where needed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    timezone: str = "Asia/Ho_Chi_Minh"
    max_body_bytes: int = 64 * 1024
    sqlite_busy_timeout_ms: int = 30_000
    sql_echo: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
