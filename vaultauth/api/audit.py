"""The audit trail: one `vaultauth.audit` JSON line per API call, joinable with Vault's own.

Each line says who (the API key id, never its secret part; the tenant), what (the operation,
the integration and auth ids), and how it ended (status and error code), with the request id
every log line of the call carries. The facade sends that id to Vault on each call it makes for
the request (X-Vaultauth-Request-Id, store/kv.py), so that Vault's audit device, told to record
that header (`sys/config/auditing/request-headers/X-Vaultauth-Request-Id`), shows which facade
call caused which Vault read or write. No value ever appears: ids are logged only when they are
valid ids, the key id only when the key is well-formed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from vaultauth.ids import ID_PATTERN
from vaultauth.logs import REQUEST_ID

audit_log = logging.getLogger("vaultauth.audit")

_STATE_KEY = "vaultauth.audit"
_ID = re.compile(ID_PATTERN)
_ERROR_BODY_LIMIT = 4096


@dataclass
class AuditEntry:
    """What the layers of one request learn about it (filled in as they learn it)."""

    key_id: str | None = None
    tenant: str | None = None
    created_auth_id: str | None = None  # create: the new record's id (not in the path)
    error_body: bytes = b""


def start_entry(scope: Scope) -> AuditEntry | None:
    """An entry for an API call (a /v1 path), kept in the request's scope; None otherwise."""
    if not scope["path"].startswith("/v1/"):
        return None
    entry = AuditEntry()
    scope.setdefault("state", {})[_STATE_KEY] = entry
    return entry


def entry_of(scope: Scope) -> AuditEntry | None:
    state = scope.get("state")
    found = state.get(_STATE_KEY) if isinstance(state, dict) else None
    return found if isinstance(found, AuditEntry) else None


def keep_error_body(entry: AuditEntry, chunk: bytes) -> None:
    if len(entry.error_body) < _ERROR_BODY_LIMIT:
        entry.error_body += chunk[: _ERROR_BODY_LIMIT - len(entry.error_body)]


def audit_event(
    entry: AuditEntry, scope: Scope, status: int
) -> tuple[logging.Logger, str, dict[str, Any]]:
    """The call's audit line, as `log_event`'s (logger, message, fields)."""
    route = scope.get("route")
    name = getattr(route, "name", None)
    params = scope.get("path_params") or {}
    return (
        audit_log,
        "api call",
        {
            "request_id": REQUEST_ID.get(),
            "key_id": entry.key_id,
            "tenant": entry.tenant,
            "operation": name.removesuffix("_auth") if isinstance(name, str) else None,
            "integrationId": _valid_id(params.get("integrationId")),
            "authId": _valid_id(params.get("authId") or entry.created_auth_id),
            "status": status,
            "error": _error_code(entry.error_body) if status >= 400 else None,
        },
    )


def _valid_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _error_code(body: bytes) -> str | None:
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None
