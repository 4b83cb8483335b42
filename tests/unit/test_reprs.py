"""No object that holds a secret shows it in repr() or str(): crash reporters capture locals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from vaultauth.api.schemas import AuthCreateBody, AuthUpdateBody
from vaultauth.client.credentials import ResolvedCredentials
from vaultauth.document import SecretDocument
from vaultauth.models import (
    ApiKeyCredential,
    AuthType,
    BasicCredential,
    BearerCredential,
    Header,
    parse_credential,
)
from vaultauth.resolve import ResolvedCredential, resolve
from vaultauth.service import AuthCreate, AuthUpdate
from vaultauth.settings import Settings
from vaultauth.store.vault_login import Lease

CANARY = "cnry-REPR-7Hq2"
BODY = {
    "authType": "API_KEY",
    "token": CANARY,
    "password": CANARY,
    "apiKey": {"key": "X-K", "value": CANARY},
    "headers": [{"key": "X-S", "value": CANARY, "secret": True}],
}

OBJECTS: dict[str, Callable[[], object]] = {
    "AuthCreateBody": lambda: AuthCreateBody.model_validate(BODY),
    "AuthUpdateBody": lambda: AuthUpdateBody.model_validate(BODY),
    "AuthCreate": lambda: AuthCreateBody.model_validate(BODY).to_domain(),
    "AuthUpdate": lambda: AuthUpdateBody.model_validate(BODY).to_domain(),
    "AuthCreate (direct)": lambda: AuthCreate(AuthType.BEARER_TOKEN, {"token": CANARY}),
    "AuthUpdate (direct)": lambda: AuthUpdate(credential_fields={"token": CANARY}),
    "secret Header": lambda: Header(key="X-S", value=CANARY, secret=True),
    "BearerCredential": lambda: BearerCredential.model_validate({"token": CANARY}),
    "BasicCredential": lambda: BasicCredential.model_validate(
        {"username": "u", "password": CANARY}
    ),
    "ApiKeyCredential": lambda: ApiKeyCredential.model_validate({"key": "k", "value": CANARY}),
    "SecretDocument": lambda: SecretDocument(
        AuthType.BEARER_TOKEN,
        parse_credential(AuthType.BEARER_TOKEN, {"token": CANARY}),
        (Header(key="X-S", value=CANARY, secret=True),),
    ),
    "ResolvedCredential": lambda: ResolvedCredential(
        headers={"Authorization": CANARY}, query={"k": CANARY}
    ),
    "resolve()": lambda: resolve(
        SecretDocument(
            AuthType.BEARER_TOKEN, parse_credential(AuthType.BEARER_TOKEN, {"token": CANARY}), ()
        )
    ),
    "ResolvedCredentials": lambda: ResolvedCredentials(
        "i", "a", "BEARER_TOKEN", 1, headers={"Authorization": CANARY}, query={"k": CANARY}
    ),
    "Lease": lambda: Lease(token=CANARY, ttl=60, renewable=True),
    "Settings": lambda: Settings(
        vault_token=SecretStr(CANARY),
        vault_approle_secret_id=SecretStr(CANARY),
        index_url=SecretStr(f"postgresql://u:{CANARY}@db/x"),
        data_dir=Path("/tmp/x"),
    ),
}


@pytest.mark.parametrize("name", list(OBJECTS))
def test_repr_and_str_never_show_the_secret(name: str) -> None:
    made = OBJECTS[name]()
    for text in (repr(made), str(made), f"{made!r}", f"{made}"):
        assert CANARY not in text, (name, text)


def test_the_canary_is_really_inside_them() -> None:
    """Guards the test above: the objects do hold the canary (nothing was dropped)."""
    document = OBJECTS["SecretDocument"]()
    assert isinstance(document, SecretDocument)
    assert CANARY in str(document.to_vault())
    update = OBJECTS["AuthUpdate"]()
    assert isinstance(update, AuthUpdate)
    assert update.credential_fields is not None
    assert update.credential_fields["token"] == CANARY
