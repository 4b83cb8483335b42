"""Rules about where credentials may go, shared by the facade and the client library (pure).

- Header names that control the connection or the framing of a request may never be set by a
  record: a static header or API key named `Host` or `Transfer-Encoding` would make every
  consumer send a re-routed or smuggled request.
- `allowedHosts` binds a credential to its destination: exact host names, or `*.example.com`
  for the subdomains of example.com at any depth (not example.com itself). Ports never matter.
- An origin is scheme, host and port: a redirect to another origin (http -> https included)
  must never carry a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

FORBIDDEN_HEADER_NAMES = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "te",
        "trailer",
        "connection",
        "keep-alive",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        "proxy-authenticate",
    }
)
MAX_ALLOWED_HOSTS = 32
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_PATTERN = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def is_forbidden_header(name: str) -> bool:
    return name.lower() in FORBIDDEN_HEADER_NAMES


def normalise_host_pattern(pattern: str) -> str:
    """`pattern` in lower case; ValueError unless it is a host name or `*.` + a host name."""
    value = pattern.lower().removesuffix(".")
    if len(pattern) > 253 or not pattern.isascii() or not _HOST_PATTERN.fullmatch(value):
        raise ValueError("must be a host name, or *. followed by one (no scheme, port or path)")
    return value


def host_allowed(host: str, patterns: Iterable[str] | None) -> bool:
    """Whether `host` (any case, no port) matches one of `patterns`; None allows every host."""
    if patterns is None:
        return True
    name = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


def origin_of(url: str) -> Origin:
    """(scheme, host, port) of an absolute URL, the port filled in from the scheme."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, host, port
