"""A crash between an update's Vault write and its index write: the next PATCH heals it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.memory import MemoryIndex, MemorySecretStore
from vaultauth.document import SecretDocument
from vaultauth.errors import Conflict
from vaultauth.models import AuthType, BearerCredential, Header
from vaultauth.service import STALE_WRITE_AFTER, AuthCreate, AuthUpdate, CredentialService

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _crashed_update(age: timedelta) -> tuple[CredentialService, MemoryIndex, Clock, str]:
    """A record at v1 in the index whose Vault path already holds a v2 written `age` ago."""
    clock = Clock()
    secrets, index = MemorySecretStore(clock=clock), MemoryIndex()
    service = CredentialService(secrets, index, prefix="p", clock=clock)
    record = await service.create(
        "acme",
        "intg",
        AuthCreate(auth_type=AuthType.BEARER_TOKEN, credential_fields={"token": "v1"}),
    )
    path = f"p/acme/integrations/intg/auth/{record.auth_id}"
    crashed = SecretDocument(
        AuthType.BEARER_TOKEN,
        BearerCredential.model_validate({"token": "v2"}),
        (Header(key="X-Crashed", value="yes"),),
    )
    await secrets.write(path, crashed.to_vault(), cas=1)  # the index never heard of it
    clock.now += age
    return service, index, clock, record.auth_id


async def test_an_old_unknown_version_is_rolled_forward_so_the_retry_succeeds() -> None:
    service, index, _, auth_id = await _crashed_update(STALE_WRITE_AFTER + timedelta(seconds=1))
    patch = AuthUpdate(credential_fields={"token": "v3"})
    with pytest.raises(Conflict):
        await service.update("acme", "intg", auth_id, patch)
    healed = await index.get("acme", "intg", auth_id)
    assert healed is not None
    assert healed.version == 2
    assert healed.headers == (Header(key="X-Crashed", value="yes"),)
    retried = await service.update("acme", "intg", auth_id, patch)
    assert retried.version == 3


async def test_a_young_unknown_version_may_be_a_writer_in_flight_and_is_left_alone() -> None:
    service, index, _, auth_id = await _crashed_update(timedelta(seconds=5))
    with pytest.raises(Conflict):
        await service.update("acme", "intg", auth_id, AuthUpdate(credential_fields={"token": "v3"}))
    record = await index.get("acme", "intg", auth_id)
    assert record is not None
    assert record.version == 1
