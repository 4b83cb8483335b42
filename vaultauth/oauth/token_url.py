"""Which token URLs the facade may call: https, or http for the development hosts the operator
listed; and, when the operator restricted them, only the allowed hosts."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from vaultauth.errors import InvalidInput
from vaultauth.headers import host_allowed, normalise_host_pattern

FIELD = "oauth2.tokenUrl"


def _hosts(listed: str) -> tuple[str, ...]:
    return tuple(host.strip().lower() for host in listed.split(",") if host.strip())


@dataclass(frozen=True)
class TokenUrlPolicy:
    """`insecure_hosts`: hosts allowed over plain http. `allowed_hosts`: names or `*.` patterns
    every token URL's host must match; None: any host."""

    insecure_hosts: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None

    @classmethod
    def from_lists(cls, insecure_hosts: str, allowed_hosts: str) -> TokenUrlPolicy:
        """From VAULTAUTH_OAUTH_INSECURE_HOSTS and VAULTAUTH_OAUTH_ALLOWED_HOSTS (comma lists;
        an empty allowed list allows any host). A malformed pattern is a ValueError."""
        allowed = tuple(normalise_host_pattern(h) for h in _hosts(allowed_hosts))
        return cls(insecure_hosts=_hosts(insecure_hosts), allowed_hosts=allowed or None)

    def check(self, url: str) -> None:
        """Raise 422 token_url_not_allowed unless the facade may send a token request there."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().removesuffix(".")
        scheme = parts.scheme.lower()
        if scheme != "https" and not (scheme == "http" and host in self.insecure_hosts):
            raise InvalidInput(
                f"{FIELD} must be an https URL (plain http only for a host listed in "
                "VAULTAUTH_OAUTH_INSECURE_HOSTS)",
                code="token_url_not_allowed",
                field=FIELD,
            )
        if not host_allowed(host, self.allowed_hosts):
            raise InvalidInput(
                f"{FIELD} names a host outside VAULTAUTH_OAUTH_ALLOWED_HOSTS",
                code="token_url_not_allowed",
                field=FIELD,
            )
