"""Schema migrations with Alembic, driven from code (no alembic.ini to keep in sync)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# pg_advisory_xact_lock's key for migrating: any constant no other code of ours locks on.
MIGRATION_LOCK = 0x6B736B5F6D6967  # "ksk_mig"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    # Two processes migrating at once (two API pods' init steps on a first deployment) take turns: on
    # SQLite the writer engine's BEGIN IMMEDIATE keeps them apart, on PostgreSQL a transaction-scoped
    # advisory lock; the second then finds the schema at head and does nothing.
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def autogenerate(engine: Engine, message: str) -> None:
    """Developer helper: `python -m api make-migration "message"`."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)
