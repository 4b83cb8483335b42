"""RequestsIntegrationAuth: the `requests` twin of IntegrationAuth (needs the `client-requests`
extra).

    auth = RequestsIntegrationAuth.from_facade(FACADE_URL, API_KEY, "intg_billing", "auth_...")
    requests.get("https://api.example.com/v1/invoices", auth=auth)

Same cache and the same single retry on a 401 with changed credentials, done from a response
hook the way `requests.auth.HTTPDigestAuth` resends its challenge answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import requests.auth

from vaultauth.client.auth import CachedCredentialsAuth
from vaultauth.client.credentials import ResolvedCredentials


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
    for name, value in credentials.headers.items():
        request.headers[name] = value
    names = set(credentials.query) | (set(previous.query) if previous is not None else set())
    if names and request.url is not None:
        request.url = _set_query(request.url, names, dict(credentials.query))


def _replayable(request: requests.PreparedRequest) -> bool:
    return request.body is None or isinstance(request.body, bytes | str)


class RequestsIntegrationAuth(CachedCredentialsAuth, requests.auth.AuthBase):
    """Applies one integration auth's credentials to `requests` calls. Thread-safe."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self.cache.get()
        apply_to_requests(r, credentials)
        retried = False

        def on_response(response: requests.Response, **kwargs: Any) -> requests.Response:
            nonlocal retried
            if response.status_code != 401 or retried:
                return response
            fresh = self.cache.refresh(credentials)
            if fresh is None or not _replayable(response.request):
                return response
            retried = True
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
