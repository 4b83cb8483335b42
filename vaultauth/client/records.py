"""What the facade's record calls answer, as typed values (client side; no secret in any)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class AuthRecordInfo:
    """One record (metadata only) and its ETag, for If-Match on a later change."""

    auth_id: str
    integration_id: str
    auth_type: str
    headers: tuple[Mapping[str, Any], ...]  # {key, value} or {key, secret: True}
    api_key: Mapping[str, Any] | None
    allowed_hosts: tuple[str, ...] | None
    label: str | None
    expires_at: datetime | None
    rotate_after: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    etag: str | None

    @classmethod
    def from_answer(cls, body: Mapping[str, Any], etag: str | None = None) -> AuthRecordInfo:
        hosts = body.get("allowedHosts")
        created = _moment(body["createdAt"])
        updated = _moment(body["updatedAt"])
        if created is None or updated is None:
            raise ValueError("a record answer without its dates")
        return cls(
            auth_id=str(body["authId"]),
            integration_id=str(body["integrationId"]),
            auth_type=str(body["authType"]),
            headers=tuple(body.get("headers") or ()),
            api_key=body.get("apiKey"),
            allowed_hosts=tuple(hosts) if hosts is not None else None,
            label=body.get("label"),
            expires_at=_moment(body.get("expiresAt")),
            rotate_after=_moment(body.get("rotateAfter")),
            version=int(body["version"]),
            created_at=created,
            updated_at=updated,
            etag=etag,
        )


@dataclass(frozen=True)
class RecordPage:
    records: tuple[AuthRecordInfo, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class VersionInfo:
    version: int
    created_at: datetime
    current: bool
    available: bool
