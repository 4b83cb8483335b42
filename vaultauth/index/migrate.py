"""Apply the Alembic migrations of the index (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

_MIGRATIONS = Path(__file__).with_name("migrations")
# Several replicas may start at once against one PostgreSQL: serialise their upgrades.
_PG_LOCK_KEY = 0x7661756C74  # "vault"


def upgrade(engine: Engine) -> None:
    """Bring the index schema to the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
