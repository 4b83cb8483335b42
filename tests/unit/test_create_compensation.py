"""A create whose index insert fails: the secret goes only when the record is surely absent."""

from __future__ import annotations

import pytest

from tests.support.memory import MemoryIndex, MemorySecretStore
from vaultauth.errors import Conflict, IndexUnavailable, VaultauthError
from vaultauth.models import AuthRecord, AuthType
from vaultauth.service import AuthCreate, CredentialService

pytestmark = pytest.mark.anyio

BODY = AuthCreate(auth_type=AuthType.BEARER_TOKEN, credential_fields={"token": "t0k"})


class FailingInsert(MemoryIndex):
    """Its insert fails with `error`, after storing the row when `lands`; get may fail too."""

    def __init__(self, error: VaultauthError, *, lands: bool, get_fails: bool = False) -> None:
        super().__init__()
        self.error = error
        self.lands = lands
        self.get_fails = get_fails

    async def insert(self, record: AuthRecord) -> None:
        if self.lands:
            await super().insert(record)
        raise self.error

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        if self.get_fails:
            raise IndexUnavailable("still down")
        return await super().get(tenant, integration_id, auth_id)


def _service(index: MemoryIndex, secrets: MemorySecretStore) -> CredentialService:
    return CredentialService(secrets, index, prefix="p", new_id=lambda: "auth_fixed123456")


async def test_an_insert_that_committed_with_its_answer_lost_is_a_success() -> None:
    secrets = MemorySecretStore()
    index = FailingInsert(IndexUnavailable("connection dropped at commit"), lands=True)
    record = await _service(index, secrets).create("acme", "intg", BODY)
    assert await index.get("acme", "intg", record.auth_id) == record
    assert await secrets.read("p/acme/integrations/intg/auth/auth_fixed123456") is not None


async def test_an_insert_that_surely_failed_leaves_no_secret() -> None:
    secrets = MemorySecretStore()
    index = FailingInsert(IndexUnavailable("down"), lands=False)
    with pytest.raises(IndexUnavailable):
        await _service(index, secrets).create("acme", "intg", BODY)
    assert secrets.paths == {}


async def test_when_the_index_cannot_tell_the_secret_is_left_for_reconcile() -> None:
    secrets = MemorySecretStore()
    index = FailingInsert(IndexUnavailable("down"), lands=True, get_fails=True)
    with pytest.raises(IndexUnavailable):
        await _service(index, secrets).create("acme", "intg", BODY)
    assert list(secrets.paths) == ["p/acme/integrations/intg/auth/auth_fixed123456"]


async def test_an_insert_refused_for_another_reason_leaves_no_secret() -> None:
    secrets = MemorySecretStore()
    index = FailingInsert(Conflict("exists"), lands=False)
    with pytest.raises(Conflict):
        await _service(index, secrets).create("acme", "intg", BODY)
    assert secrets.paths == {}
