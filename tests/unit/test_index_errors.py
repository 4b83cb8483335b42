"""Index errors become IndexUnavailable, whatever the driver said, and its text stays out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import postgres_schema
from vaultauth.errors import IndexUnavailable
from vaultauth.index.migrate import upgrade
from vaultauth.index.sql import SqlMetadataIndex, create_index_engine


def test_an_unmigrated_index_is_unavailable_without_the_driver_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_index_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with pytest.raises(IndexUnavailable) as caught:
            SqlMetadataIndex(engine).get("acme", "intg", "auth_x")
    finally:
        engine.dispose()
    assert caught.value.__cause__ is None
    assert "auth_records" not in str(caught.value)
    assert "auth_records" not in caplog.text


def test_a_value_the_driver_refuses_is_index_error_not_a_raw_driver_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with postgres_schema("the driver-error test", required=False) as url:
        engine = create_index_engine(url)
        try:
            upgrade(engine)
            with pytest.raises(IndexUnavailable) as caught:
                SqlMetadataIndex(engine).find_key("nul\x00in-key-id")  # PostgreSQL: DataError
        finally:
            engine.dispose()
    assert caught.value.code == "index_error"
    assert caught.value.__cause__ is None
    assert "api_keys" not in caplog.text
    assert "DataError" in caplog.text
