"""RequestsIntegrationAuth: the `requests` twin of IntegrationAuth (needs the `client-requests`
extra).

    auth = RequestsIntegrationAuth.from_facade(FACADE_URL, API_KEY, "intg_billing", "auth_...")
    requests.get("https://api.example.com/v1/invoices", auth=auth)

Same cache and the same single retry on a 401 with changed credentials, done from a response
hook the way `requests.auth.HTTPDigestAuth` resends its challenge answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import requests.auth

from vaultauth.client.auth import CachedCredentialsAuth
from vaultauth.client.credentials import ResolvedCredentials
from vaultauth.client.guards import carries, check_destination, refuse_hop
from vaultauth.headers import origin_of


def _set_query(url: str, remove: set[str], add: dict[str, str]) -> str:
    if not remove and not add:
        return url
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in remove]
    return urlunsplit(parts._replace(query=urlencode([*kept, *add.items()])))


def apply_to_requests(
    request: requests.PreparedRequest,
    credentials: ResolvedCredentials,
    previous: ResolvedCredentials | None = None,
) -> None:
    """Set the headers and query parameters on a prepared request (removing `previous` ones)."""
    if previous is not None:
        for name in previous.headers:
            request.headers.pop(name, None)
    check_destination(credentials, request.url or "")
    for name, value in credentials.headers.items():
        request.headers[name] = value
    names = set(credentials.query) | (set(previous.query) if previous is not None else set())
    if names and request.url is not None:
        request.url = _set_query(request.url, names, dict(credentials.query))


_REDIRECTS = requests.sessions.SessionRedirectMixin()


def refuse_cross_origin_redirect(
    response: requests.Response, credentials: ResolvedCredentials
) -> None:
    """Before requests follows a 3xx: raise if the next hop is another origin and would still
    carry a value the credential set (requests keeps custom headers, and Authorization unless
    the host changes)."""
    if not response.is_redirect or response.request.url is None:
        return
    location = response.headers.get("location", "")
    target = urljoin(response.request.url, location)
    here, there = origin_of(response.request.url), origin_of(target)
    if here == there:
        return
    headers = {str(k): str(v) for k, v in response.request.headers.items()}
    if _REDIRECTS.should_strip_auth(response.request.url, target):  # type: ignore[no-untyped-call]
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    if carries(credentials, headers, target):
        raise refuse_hop(credentials, there)


def _replayable(request: requests.PreparedRequest) -> bool:
    return request.body is None or isinstance(request.body, bytes | str)


class RequestsIntegrationAuth(CachedCredentialsAuth, requests.auth.AuthBase):
    """Applies one integration auth's credentials to `requests` calls. Thread-safe."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self.cache.get()
        apply_to_requests(r, credentials)
        retried = False
        current = [credentials]  # the credential on the request now (fresh after a retry)

        def on_response(response: requests.Response, **kwargs: Any) -> requests.Response:
            nonlocal retried
            refuse_cross_origin_redirect(response, current[0])
            if response.status_code != 401 or retried:
                return response
            fresh = self.cache.refresh(credentials)
            if fresh is None or not _replayable(response.request):
                return response
            retried = True
            current[0] = fresh
            response.content  # noqa: B018 - read it, so the connection can be reused
            response.close()
            again = response.request.copy()
            apply_to_requests(again, fresh, previous=credentials)
            resent: requests.Response = response.connection.send(again, **kwargs)
            resent.history.append(response)
            resent.request = again
            return resent

        r.hooks["response"].append(on_response)
        return r
