"""Where a credential may go: checked before a request is sent, and on every redirect hop.

- Before sending: the host must be in the record's `allowedHosts` (when it has some), and no
  header the credential sets may control the connection or the framing of the request
  (`Host`, `Transfer-Encoding`, ...), whatever Vault holds.
- On redirects: neither httpx nor requests strips custom headers (`X-Api-Key`, secret static
  headers) when a redirect leads to another origin. An httpx `Auth` never sees the hops (httpx
  follows them inside its own loop), so the credential's request carries a `trace` extension,
  which httpx copies to every hop and httpcore calls before sending each one's headers; it
  refuses a hop to another origin that still carries any header or query value the credential
  set. For requests, a response hook sees each 3xx before it is followed and refuses the same.
  A hop to another origin that no longer carries the credential (httpx and requests drop
  `Authorization` when the host changes) goes ahead: a download redirected to a CDN works.

An origin is scheme, host and port; http -> https is another origin.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vaultauth.client.credentials import ResolvedCredentials
from vaultauth.client.errors import DestinationNotAllowed, ForbiddenHeader, RedirectRefused
from vaultauth.headers import Origin, host_allowed, is_forbidden_header, origin_of

TraceHook = Callable[[str, dict[str, Any]], Any]


def check_destination(credentials: ResolvedCredentials, url: str) -> None:
    """Raise unless `credentials` may be put on a request to `url`."""
    for name in credentials.headers:
        if is_forbidden_header(name):
            raise ForbiddenHeader(
                f"the credential of {credentials.integration_id}/{credentials.auth_id} sets the "
                f"{name} header, which controls the connection; it was not sent"
            )
    _scheme, host, _port = origin_of(url)
    if not host_allowed(host, credentials.allowed_hosts):
        raise DestinationNotAllowed(
            f"the credential of {credentials.integration_id}/{credentials.auth_id} may be sent "
            f"only to {', '.join(credentials.allowed_hosts or ())}, not to {host}; "
            "nothing was sent"
        )


def carries(credentials: ResolvedCredentials, headers: dict[str, str], url: str) -> bool:
    """Whether a request with `headers` (any case) and `url` holds a value `credentials` set."""
    sent = {name.lower(): value for name, value in headers.items()}
    if any(sent.get(name.lower()) == value for name, value in credentials.headers.items()):
        return True
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return any(query.get(name) == value for name, value in credentials.query.items())


def refuse_hop(credentials: ResolvedCredentials, origin: Origin) -> RedirectRefused:
    scheme, host, port = origin
    return RedirectRefused(
        f"a redirect leads to {scheme}://{host}:{port}, another origin than the one the "
        f"credential of {credentials.integration_id}/{credentials.auth_id} was put on; "
        "the request was not sent there"
    )


def _hop_of(info: dict[str, Any]) -> tuple[Origin, dict[str, str], str] | None:
    """(origin, headers, URL) of the httpcore request a trace event is about."""
    request: Any = info.get("request")
    url = getattr(request, "url", None)
    if url is None:
        return None
    scheme = url.scheme.decode("ascii").lower()
    host = url.host.decode("ascii").lower()
    port = url.port or {"http": 80, "https": 443}.get(scheme, 0)
    target = url.target.decode("ascii")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
    return (scheme, host, port), headers, f"{scheme}://{host}:{port}{target}"


def _check_hop(
    credentials: ResolvedCredentials, origin: Origin, event: str, info: dict[str, Any]
) -> None:
    if not event.endswith("send_request_headers.started"):
        return
    hop = _hop_of(info)
    if hop is None:
        return
    hop_origin, headers, url = hop
    if hop_origin != origin and carries(credentials, headers, url):
        raise refuse_hop(credentials, hop_origin)


def sync_hop_guard(
    credentials: ResolvedCredentials, origin: Origin, previous: TraceHook | None
) -> TraceHook:
    """A `trace` extension for sync httpx clients (chaining one the caller had set)."""

    def trace(event: str, info: dict[str, Any]) -> None:
        _check_hop(credentials, origin, event, info)
        if previous is not None:
            previous(event, info)

    return trace


def async_hop_guard(
    credentials: ResolvedCredentials, origin: Origin, previous: TraceHook | None
) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """A `trace` extension for async httpx clients (chaining one the caller had set)."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        _check_hop(credentials, origin, event, info)
        if previous is not None:
            result = previous(event, info)
            if inspect.isawaitable(result):
                await result

    return trace
