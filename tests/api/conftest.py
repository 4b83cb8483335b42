"""Fixtures of the API tests: raw Vault access at the documented path."""

from __future__ import annotations

import hvac
import pytest

from tests.support.capture import every_log  # noqa: F401 - a fixture of the API tests
from tests.support.kv import KvReader
from vaultauth.settings import Settings


@pytest.fixture
def kv(vault_client: hvac.Client, settings: Settings) -> KvReader:
    return KvReader.of(vault_client, settings)
