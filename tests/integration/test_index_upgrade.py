"""An index made by the previous release (schema 0001, vaultauth 0.1.0) upgrades in place, on
SQLite and PostgreSQL: its rows read back unchanged, the new columns are empty, and the change
feed's triggers are in place after every migration."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import text

from vaultauth.index.migrate import HEAD_REVISION, head_revision, upgrade
from vaultauth.index.sql import SqlMetadataIndex, create_index_engine
from vaultauth.models import AuthType, Header

MOMENT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_an_index_of_the_previous_release_upgrades_in_place(index_url: str) -> None:
    engine = create_index_engine(index_url, pool_size=2)
    try:
        assert upgrade(engine, "0001") == "0001"
        sqlite = engine.dialect.name == "sqlite"
        moment = MOMENT.replace(tzinfo=None) if sqlite else MOMENT
        with engine.begin() as connection:  # as 0.1.0 wrote them
            connection.execute(
                text(
                    "INSERT INTO auth_records (tenant, integration_id, auth_id, auth_type, "
                    "headers, api_key_name, api_key_position, kv_version, state, created_at, "
                    "updated_at) VALUES ('acme', 'intg_old', 'auth_old000000001', 'API_KEY', "
                    ":headers, 'X-Key', 'header', 3, 'active', :m, :m)"
                ),
                {"headers": '[{"key": "Accept", "value": "json"}]', "m": moment},
            )
            connection.execute(
                text(
                    "INSERT INTO api_keys (key_id, tenant, scopes, secret_hash, created_at) "
                    "VALUES ('OldKey000000', 'acme', 'auth:read', :h, :m)"
                ),
                {"h": "0" * 64, "m": moment},
            )
        assert upgrade(engine) == head_revision()

        index = SqlMetadataIndex(engine)
        record = index.get("acme", "intg_old", "auth_old000000001")
        assert record is not None
        assert record.auth_type is AuthType.API_KEY
        assert record.headers == (Header(key="Accept", value="json"),)
        assert (record.version, record.created_at) == (3, MOMENT)
        assert (record.label, record.expires_at, record.rotate_after) == (None, None, None)
        assert record.allowed_hosts is None
        assert record.revision == 1
        assert index.find_key("OldKey000000") is not None

        # The new columns work, and the change feed hears about the update.
        dated = record.with_changes(label="old one", expires_at=MOMENT)
        assert index.update(dated, expected_version=3, credential=False, metadata=True) == 2
        again = index.get("acme", "intg_old", "auth_old000000001")
        assert again is not None
        assert (again.label, again.expires_at, again.revision) == ("old one", MOMENT, 2)
        with engine.connect() as connection:
            if sqlite:
                announced = connection.execute(text("SELECT subject FROM index_changes")).scalars()
                assert "record:acme/intg_old/auth_old000000001" in list(announced)
            else:
                triggers = connection.execute(
                    text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
                ).scalars()
                assert {"auth_records_announced", "api_keys_announced"} <= set(triggers)
    finally:
        engine.dispose()


def test_the_head_known_without_alembic_is_alembics_head() -> None:
    assert HEAD_REVISION == head_revision()


def test_an_index_at_head_is_served_without_loading_alembic(index_url: str) -> None:
    engine = create_index_engine(index_url, pool_size=2)
    try:
        assert upgrade(engine) == HEAD_REVISION
    finally:
        engine.dispose()
    program = (
        "import sys\n"
        "from vaultauth.index.migrate import upgrade\n"
        "from vaultauth.index.sql import create_index_engine\n"
        f"engine = create_index_engine({index_url!r}, pool_size=1)\n"
        "print(upgrade(engine), sorted({m.split('.')[0] for m in sys.modules} & {'alembic'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [HEAD_REVISION, "[]"]
