"""FacadeClient's record calls, against a live facade: an operator script needs no HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from vaultauth.client import (
    AccessDenied,
    CredentialNotFound,
    FacadeClient,
    InvalidRequest,
    PreconditionFailed,
)
from vaultauth.keys import Scope

INTG = "intg_admin"


def test_an_operator_script_rotates_a_credential_safely(
    facade_url: str, make_key: Callable[..., str]
) -> None:
    with FacadeClient(facade_url, make_key()) as facade:
        soon = datetime.now(UTC) + timedelta(days=2)
        record = facade.create(
            INTG,
            {"authType": "BEARER_TOKEN", "token": "old", "rotateAfter": soon.isoformat()},
            idempotency_key="rotation-1",
        )
        assert (
            facade.create(
                INTG,
                {"authType": "BEARER_TOKEN", "token": "old", "rotateAfter": soon.isoformat()},
                idempotency_key="rotation-1",
            ).auth_id
            == record.auth_id
        )
        assert record.etag is not None
        assert record.rotate_after == soon.replace(microsecond=0)
        due = facade.due(datetime.now(UTC) + timedelta(days=7))
        assert [r.auth_id for r in due.records] == [record.auth_id]

        rotated = facade.update(
            INTG,
            record.auth_id,
            {"token": "new", "rotateAfter": (soon + timedelta(days=90)).isoformat()},
            if_match=record.etag,
        )
        assert rotated.version == 2
        with pytest.raises(PreconditionFailed):  # the stale ETag is refused
            facade.update(INTG, record.auth_id, {"token": "newer"}, if_match=record.etag)
        assert facade.resolve(INTG, record.auth_id).headers["Authorization"] == "Bearer new"

        versions = facade.versions(INTG, record.auth_id)
        assert [(v.version, v.current) for v in versions] == [(2, True), (1, False)]
        back = facade.rollback(INTG, record.auth_id, 1, if_match=rotated.etag)
        assert back.version == 3
        assert facade.resolve(INTG, record.auth_id).headers["Authorization"] == "Bearer old"

        assert facade.get(INTG, record.auth_id).etag == back.etag
        listed = facade.list(INTG)
        assert [r.auth_id for r in listed.records] == [record.auth_id]
        facade.delete(INTG, record.auth_id, if_match=back.etag)
        with pytest.raises(CredentialNotFound):
            facade.get(INTG, record.auth_id)


def test_refusals_raise_the_client_error_classes(
    facade_url: str, make_key: Callable[..., str]
) -> None:
    with FacadeClient(facade_url, make_key()) as facade:
        with pytest.raises(InvalidRequest) as refused:
            facade.create(INTG, {"authType": "BEARER_TOKEN"})
        assert refused.value.code == "missing_credential"
    with FacadeClient(facade_url, make_key("acme", [Scope.AUTH_READ])) as reader:
        with pytest.raises(AccessDenied):
            reader.create(INTG, {"authType": "NO_AUTH"})
