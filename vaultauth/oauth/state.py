"""The token document: what the facades share about one record's access token, in Vault.

It sits at `<record path>/oauth-token`, beside the record's secret and outside the consumer
policy's `auth/+` (services reading Vault directly never see it), so a refresh writes no record
version, moves no ETag and never races a PATCH of the record. Every change is a check-and-set
on its version, which is also how one facade takes the lease that makes it the only one asking
the token endpoint (see `broker`).

Times are Unix seconds (every facade's clock is assumed NTP-synchronised; a skew of a few
seconds only moves when a refresh starts). `repr()` hides the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

TOKEN_DOCUMENT = "oauth-token"
FORMAT = "1"
MIN_MARGIN = 30.0  # seconds before expiry at which a token is refreshed, at least...
MARGIN_SHARE = 0.1  # ...or this share of its lifetime, whichever is larger


def token_path(record_path: str) -> str:
    return f"{record_path}/{TOKEN_DOCUMENT}"


def usable_for(expires_in: float) -> float:
    """How long a new token is used: its lifetime minus the margin; when the lifetime is not
    longer than the margin, half of it."""
    margin = max(MIN_MARGIN, MARGIN_SHARE * expires_in)
    return expires_in - margin if expires_in > margin else expires_in / 2


@dataclass(frozen=True)
class TokenState:
    """One record's token state. `config` is the digest of the configuration the token (and a
    rotated refresh token) belongs to: state under another digest is discarded."""

    config: str
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    use_until: float | None = None
    refresh_token: str | None = field(default=None, repr=False)  # rotated by the endpoint
    lease_owner: str | None = None
    lease_until: float | None = None
    failures: int = 0
    retry_at: float | None = None  # no token request before this (back-off)
    last_error: str | None = None  # oauth_token_failed or oauth_refresh_rejected
    last_message: str | None = None  # ours, never the endpoint's

    def fresh(self, now: float) -> bool:
        """A token to hand out without refreshing."""
        return self.access_token is not None and self.use_until is not None and now < self.use_until

    def valid(self, now: float) -> bool:
        """A token that still works (while another facade refreshes, or during a back-off)."""
        return (
            self.access_token is not None and self.expires_at is not None and now < self.expires_at
        )

    def leased_by_other(self, owner: str, now: float) -> bool:
        return (
            self.lease_owner is not None
            and self.lease_owner != owner
            and self.lease_until is not None
            and now < self.lease_until
        )

    def backing_off(self, now: float) -> bool:
        return self.retry_at is not None and now < self.retry_at

    def leased(self, owner: str, until: float) -> TokenState:
        return replace(self, lease_owner=owner, lease_until=until)

    def with_token(
        self, access_token: str, now: float, expires_in: float, refresh_token: str | None
    ) -> TokenState:
        """After a successful request: the new token, the rotated refresh token if one came
        (else the one used so far), no lease, no back-off."""
        return TokenState(
            config=self.config,
            access_token=access_token,
            expires_at=now + expires_in,
            use_until=now + usable_for(expires_in),
            refresh_token=refresh_token if refresh_token is not None else self.refresh_token,
        )

    def with_failure(self, code: str, message: str, retry_at: float) -> TokenState:
        """After a failed request: the token and refresh token as they were, no lease."""
        return replace(
            self,
            lease_owner=None,
            lease_until=None,
            failures=self.failures + 1,
            retry_at=retry_at,
            last_error=code,
            last_message=message,
        )

    def to_vault(self) -> dict[str, Any]:
        document: dict[str, Any] = {"format": FORMAT, "config": self.config}
        optional = {
            "accessToken": self.access_token,
            "expiresAt": self.expires_at,
            "useUntil": self.use_until,
            "refreshToken": self.refresh_token,
            "leaseOwner": self.lease_owner,
            "leaseUntil": self.lease_until,
            "retryAt": self.retry_at,
            "lastError": self.last_error,
            "lastMessage": self.last_message,
        }
        document.update({k: v for k, v in optional.items() if v is not None})
        if self.failures:
            document["failures"] = self.failures
        return document

    @classmethod
    def from_vault(cls, data: dict[str, Any]) -> TokenState | None:
        """None when the document is not one this version wrote (it is then replaced)."""
        try:
            if data.get("format") != FORMAT or not isinstance(data.get("config"), str):
                return None
            return cls(
                config=data["config"],
                access_token=_text(data.get("accessToken")),
                expires_at=_number(data.get("expiresAt")),
                use_until=_number(data.get("useUntil")),
                refresh_token=_text(data.get("refreshToken")),
                lease_owner=_text(data.get("leaseOwner")),
                lease_until=_number(data.get("leaseUntil")),
                failures=int(data.get("failures", 0)),
                retry_at=_number(data.get("retryAt")),
                last_error=_text(data.get("lastError")),
                last_message=_text(data.get("lastMessage")),
            )
        except (TypeError, ValueError):
            return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("not a number")
    return float(value)
