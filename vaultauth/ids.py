"""Validated ids and the one function that builds a Vault KV path from them."""

from __future__ import annotations

import re
import secrets
import string

from vaultauth.errors import InvalidInput

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)
_BASE62 = string.ascii_letters + string.digits


def validate_path_segment(value: str, field: str) -> str:
    """Return `value` if it is 1-64 of `[A-Za-z0-9_-]`; anything else cannot leave its segment.

    `re.fullmatch` on the decoded value: `/`, `.`, `%`, and every other character are refused,
    so neither `..` nor an encoded slash can reach hvac (whose URL quoting keeps `/` and `..`).
    """
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise InvalidInput(
            f"{field} must be 1-64 characters of letters, digits, '_' and '-'",
            code="invalid_id",
            field=field,
        )
    return value


def validate_mount(value: str, field: str) -> str:
    """A Vault mount path without its outer slashes, each segment checked like an id, so a
    configured mount (`../sys`, `a/./b`) cannot point a URL at another Vault endpoint."""
    mount = value.strip("/")
    for segment in mount.split("/"):
        validate_path_segment(segment, field)
    return mount


def new_auth_id() -> str:
    """`auth_` and 12 random base62 characters (from one read of the OS's random source)."""
    number = int.from_bytes(secrets.token_bytes(16))  # 128 bits; 12 digits take 71.5
    digits = []
    for _ in range(12):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "auth_" + "".join(digits)


def secret_path(prefix: str, tenant: str, integration_id: str, auth_id: str) -> str:
    """The KV path (relative to the mount) of one auth record's secret document."""
    for value, field in (
        (tenant, "tenant"),
        (integration_id, "integrationId"),
        (auth_id, "authId"),
    ):
        validate_path_segment(value, field)
    return f"{prefix}/{tenant}/integrations/{integration_id}/auth/{auth_id}"


def tenant_path(prefix: str, tenant: str) -> str:
    """The KV folder that holds all of one tenant's secret documents."""
    validate_path_segment(tenant, "tenant")
    return f"{prefix}/{tenant}"
