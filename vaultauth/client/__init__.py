"""vaultauth.client: apply an integration's stored credentials to outbound requests.

Needs only httpx and pydantic (plus `requests` for `RequestsIntegrationAuth`, extra
`client-requests`); it imports nothing of the server (no FastAPI, hvac or SQLAlchemy).

    from vaultauth.client import IntegrationAuth

    auth = IntegrationAuth.from_facade("https://vaultauth.internal", API_KEY,
                                       "intg_billing", "auth_P3kNz7Yv1Qm9")
    httpx.get("https://api.example.com/v1/invoices", auth=auth)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vaultauth.client.auth import CredentialCache, CredentialSource, IntegrationAuth
from vaultauth.client.credentials import QueryRedactingFilter, ResolvedCredentials
from vaultauth.client.errors import (
    AccessDenied,
    ClientError,
    Conflict,
    CredentialNotFound,
    CredentialWithheld,
    DestinationNotAllowed,
    FacadeOnly,
    ForbiddenHeader,
    InvalidRequest,
    PreconditionFailed,
    RedirectRefused,
    ServiceUnavailable,
    UnexpectedResponse,
)
from vaultauth.client.facade import FacadeClient
from vaultauth.client.records import AuthRecordInfo, RecordPage, VersionInfo
from vaultauth.client.vault import VaultResolver

if TYPE_CHECKING:
    from vaultauth.client.requests_auth import RequestsIntegrationAuth

__all__ = [
    "AccessDenied",
    "AuthRecordInfo",
    "ClientError",
    "Conflict",
    "CredentialCache",
    "CredentialNotFound",
    "CredentialSource",
    "CredentialWithheld",
    "DestinationNotAllowed",
    "FacadeClient",
    "FacadeOnly",
    "ForbiddenHeader",
    "IntegrationAuth",
    "InvalidRequest",
    "PreconditionFailed",
    "QueryRedactingFilter",
    "RecordPage",
    "RedirectRefused",
    "RequestsIntegrationAuth",
    "ResolvedCredentials",
    "ServiceUnavailable",
    "UnexpectedResponse",
    "VaultResolver",
    "VersionInfo",
]


def __getattr__(name: str) -> Any:
    # `requests` is optional: import its adapter only when it is asked for.
    if name == "RequestsIntegrationAuth":
        from vaultauth.client.requests_auth import RequestsIntegrationAuth

        return RequestsIntegrationAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
