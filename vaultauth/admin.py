"""Operator actions on the index that the CLI, `vaultauth dev` and the tests share."""

from __future__ import annotations

from datetime import UTC, datetime

from vaultauth.errors import InvalidInput
from vaultauth.idempotency import SYSTEM_FOLDER
from vaultauth.ids import validate_path_segment
from vaultauth.keys import ApiKeyRecord, Scope, generate_key
from vaultauth.settings import Settings


def create_key(settings: Settings, tenant: str, scopes: list[Scope]) -> str:
    """Store a new key's hash in the index; return the plaintext key."""
    from vaultauth.wiring import build_index  # SQLAlchemy and the drivers: on first use

    validate_path_segment(tenant, "tenant")
    if tenant == SYSTEM_FOLDER:
        raise InvalidInput(f"the tenant name {SYSTEM_FOLDER} is reserved", code="invalid_id")
    if not scopes:
        raise InvalidInput("give at least one --scope", code="missing_scope")
    key_id, plaintext, secret_hash = generate_key()
    engine, index = build_index(settings)
    try:
        index.add_key(
            ApiKeyRecord(
                key_id=key_id,
                tenant=tenant,
                scopes=frozenset(scopes),
                secret_hash=secret_hash,
                created_at=datetime.now(UTC),
            )
        )
    finally:
        engine.dispose()
    return plaintext
