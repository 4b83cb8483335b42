"""One token request to an OAuth 2.0 token endpoint (RFC 6749 §4.4 client credentials, §6
refresh), and what its answer means.

Bounded on every side: one deadline for the whole exchange, no redirect followed, at most
MAX_ANSWER_BYTES read, no proxy or .netrc from the environment (a .netrc entry would add its
own Authorization). Nothing the endpoint answers reaches a message: error bodies can echo the
client secret or the refresh token, so only the HTTP status and, from the RFC's fixed list, the
`error` code are kept.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote_plus, urlencode

import httpx

from vaultauth import __version__
from vaultauth.models import MAX_TOKEN, OAuth2Credential, OAuth2Grant

MAX_ANSWER_BYTES = 64 * 1024
MAX_RETRY_AFTER = 300.0
DEFAULT_EXPIRES_IN = 3600.0

# RFC 6749 §5.2: the only `error` values we repeat (anything else is not ours to echo).
_RFC_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
# An access or refresh token goes into a header value: visible ASCII, no space.
_TOKEN_CHARS = re.compile(r"[!-~]+")


class Outcome(StrEnum):
    """A token request's outcome: the `outcome` label of vaultauth_oauth_token_requests_total."""

    SUCCESS = "success"
    REJECTED = "rejected"  # invalid_grant on a refresh: the stored refresh token is refused
    REFUSED = "refused"  # another 4xx (invalid_client, invalid_scope, ...)
    FAILED = "failed"  # 5xx, 429, a redirect, an answer we cannot use, a network error
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class TokenGrant:
    """A successful answer. `repr()` hides the tokens."""

    access_token: str = field(repr=False)
    expires_in: float
    refresh_token: str | None = field(default=None, repr=False)  # a rotated one, if sent


class TokenRequestError(Exception):
    """A request that gave no usable token. `message` is ours, safe to show and log;
    `retry_after` is the endpoint's Retry-After in seconds, when it sent one."""

    def __init__(self, outcome: Outcome, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.retry_after = retry_after


def token_form(credential: OAuth2Credential, refresh_token: str | None) -> dict[str, str]:
    """The form fields of the request, client authentication in the body included when the
    client authenticates there (`clientAuth: body`, or a public client without a secret)."""
    form: dict[str, str] = {"grant_type": credential.grant.value}
    if credential.grant is OAuth2Grant.REFRESH_TOKEN:
        if refresh_token is None:
            raise ValueError("a refresh token grant needs a refresh token")
        form["refresh_token"] = refresh_token
    if credential.scopes:
        form["scope"] = " ".join(credential.scopes)
    if credential.audience is not None:
        form["audience"] = credential.audience
    if not _uses_basic(credential):
        form["client_id"] = credential.client_id
        if credential.client_secret is not None:
            form["client_secret"] = credential.client_secret.get_secret_value()
    return form


def basic_authorization(credential: OAuth2Credential) -> str | None:
    """RFC 6749 §2.3.1: id and secret each form-encoded, then joined by `:` and base64'd."""
    if not _uses_basic(credential) or credential.client_secret is None:
        return None
    secret = credential.client_secret.get_secret_value()
    pair = f"{quote_plus(credential.client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _uses_basic(credential: OAuth2Credential) -> bool:
    return credential.client_auth.value == "basic" and credential.client_secret is not None


class TokenEndpoint:
    """Sends token requests; one HTTP client (and its connection pool) per facade process."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        cacert: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = timeout
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(cacert)) if cacert is not None else True
        )
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
            verify=verify,
            transport=transport,
            headers={"User-Agent": f"vaultauth/{__version__}", "Accept": "application/json"},
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, credential: OAuth2Credential, refresh_token: str | None) -> TokenGrant:
        """POST the token request; TokenRequestError when no usable token comes back."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        authorization = basic_authorization(credential)
        if authorization is not None:
            headers["Authorization"] = authorization
        body = urlencode(token_form(credential, refresh_token)).encode("ascii")
        try:
            async with asyncio.timeout(self._timeout):
                status, retry_after, answer = await self._post(credential.token_url, headers, body)
        except TimeoutError:
            raise TokenRequestError(
                Outcome.TIMEOUT, f"the token endpoint did not answer within {self._timeout:g} s"
            ) from None
        except httpx.TimeoutException:
            raise TokenRequestError(
                Outcome.TIMEOUT, f"the token endpoint did not answer within {self._timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise TokenRequestError(
                Outcome.FAILED, f"the token endpoint could not be reached ({type(exc).__name__})"
            ) from None
        return _grant_from(credential.grant, status, retry_after, answer)

    async def _post(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, float | None, bytes]:
        async with self._http.stream("POST", url, headers=headers, content=body) as response:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if 300 <= response.status_code < 400:
                raise TokenRequestError(
                    Outcome.FAILED,
                    f"the token endpoint answered a redirect (HTTP {response.status_code}); "
                    "redirects are not followed",
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise TokenRequestError(
                        Outcome.FAILED,
                        f"the token endpoint's answer is larger than {MAX_ANSWER_BYTES} bytes",
                    )
                chunks.append(chunk)
            return response.status_code, retry_after, b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delay form only), capped at MAX_RETRY_AFTER."""
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), MAX_RETRY_AFTER)


def _json_object(answer: bytes) -> dict[str, object] | None:
    try:
        parsed = json.loads(answer)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _grant_from(
    grant: OAuth2Grant, status: int, retry_after: float | None, answer: bytes
) -> TokenGrant:
    parsed = _json_object(answer)
    if status != 200:
        error = parsed.get("error") if parsed is not None else None
        named = f", {error}" if isinstance(error, str) and error in _RFC_ERRORS else ""
        if 400 <= status < 500 and status != 429:
            if error == "invalid_grant" and grant is OAuth2Grant.REFRESH_TOKEN:
                raise TokenRequestError(
                    Outcome.REJECTED,
                    "the token endpoint rejected the stored refresh token (invalid_grant); "
                    "store a new one with PATCH",
                    retry_after,
                )
            raise TokenRequestError(
                Outcome.REFUSED,
                f"the token endpoint refused the request (HTTP {status}{named})",
                retry_after,
            )
        raise TokenRequestError(
            Outcome.FAILED, f"the token endpoint failed (HTTP {status})", retry_after
        )
    if parsed is None:
        raise TokenRequestError(Outcome.FAILED, "the token endpoint's answer is not a JSON object")
    access_token = parsed.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TokenRequestError(Outcome.FAILED, "the token endpoint answered without access_token")
    if len(access_token) > MAX_TOKEN or not _TOKEN_CHARS.fullmatch(access_token):
        raise TokenRequestError(
            Outcome.FAILED, "the token endpoint's access_token cannot be sent in a header"
        )
    token_type = parsed.get("token_type")
    if token_type is not None and (
        not isinstance(token_type, str) or token_type.lower() != "bearer"
    ):
        raise TokenRequestError(
            Outcome.FAILED, "the token endpoint issued a token that is not a Bearer token"
        )
    return TokenGrant(
        access_token=access_token,
        expires_in=_expires_in(parsed.get("expires_in")),
        refresh_token=_rotated_refresh_token(parsed.get("refresh_token")),
    )


def _expires_in(value: object) -> float:
    """`expires_in` in seconds: a positive number (some endpoints send a string); absent, the
    contract's default of an hour."""
    if value is None:
        return DEFAULT_EXPIRES_IN
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 0 < value < 10 * 365 * 86400:
            return float(value)
    raise TokenRequestError(Outcome.FAILED, "the token endpoint's expires_in is unusable")


def _rotated_refresh_token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TOKEN:
        raise TokenRequestError(Outcome.FAILED, "the token endpoint's refresh_token is unusable")
    if not _TOKEN_CHARS.fullmatch(value):
        raise TokenRequestError(Outcome.FAILED, "the token endpoint's refresh_token is unusable")
    return value
