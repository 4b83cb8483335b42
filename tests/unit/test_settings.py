"""Settings: secrets stay wrapped; the index URL (which may carry a password) included."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultauth.settings import Settings


def test_the_index_url_and_vault_token_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTAUTH_INDEX_URL", "postgresql+psycopg://app:pg-pass-canary@db/x")
    monkeypatch.setenv("VAULTAUTH_VAULT_TOKEN", "vault-token-canary")
    settings = Settings()
    assert "pg-pass-canary" not in repr(settings)
    assert "vault-token-canary" not in repr(settings)
    assert settings.resolved_index_url() == "postgresql+psycopg://app:pg-pass-canary@db/x"


def test_the_default_index_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, index_url=None)
    assert settings.resolved_index_url() == f"sqlite:///{(tmp_path / 'index.sqlite3').resolve()}"
