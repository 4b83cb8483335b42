"""Apply the Alembic migrations of the index (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from vaultauth.errors import IndexUnavailable

_MIGRATIONS = Path(__file__).with_name("migrations")
# Several replicas may start at once against one PostgreSQL: serialise their upgrades.
_PG_LOCK_KEY = 0x7661756C74  # "vault"


def head_revision() -> str:
    """The newest revision the shipped migrations lead to."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, to: str = "head") -> str | None:
    """Bring the index schema to revision `to` (the newest by default); return it."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, to)
            return MigrationContext.configure(connection).get_current_revision()
    except (sa_exc.OperationalError, sa_exc.InterfaceError):
        # Not chained: the driver's message (host, user, SQL) would follow it into tracebacks.
        raise IndexUnavailable("the metadata index is unavailable") from None
