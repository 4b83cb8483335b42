"""One token request per expiry per record, across every process and replica.

How a facade gets a record's access token (`TokenBroker.token`):
1. From its own memory, while the token is fresh (before `use_until`: its expiry minus the
   margin). Concurrent callers in one process queue on a per-record lock, so one of them
   does the rest and the others find its token when they get the lock.
2. From the token document in Vault, if another facade stored a fresh one.
3. Else it takes the *lease*: a check-and-set write of the document naming itself, valid for
   LEASE_SECONDS. Vault applies check-and-set writes one at a time, so of any number of
   facades that read version N, exactly one writes N+1; the others get a CAS conflict, read
   again, see the lease and wait (polling the document) for the holder's token. While the
   lease is held, a token that has not expired yet is served rather than waited for.
4. The holder sends the one token request, then writes the new access token, its expiry and
   a rotated refresh token (if the endpoint sent one) with a check-and-set on its own lease
   version, releasing the lease, and only then uses the token: a crash after that write loses
   nothing. A failure is written the same way (no token, a back-off `retry_at` that every
   facade respects, the stored refresh token untouched).

When the holder dies (crash, kill, partition) its lease simply expires; the next caller takes
it over with the same check-and-set. LEASE_SECONDS is three times the token request's
timeout, so a live holder has always finished (or given up) before its lease can be taken
over. The one unavoidable window: a holder that dies after the endpoint rotated a refresh
token and before step 4's write has lost that new refresh token; the next refresh then uses
the old one, which a rotating endpoint refuses (502 oauth_refresh_rejected, until a PATCH
stores a new one). No lock in PostgreSQL is needed, so this holds on SQLite, with several
workers, and across replicas alike; docs/oauth.md has the sequence.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from vaultauth.errors import (
    Conflict,
    RefreshRejected,
    TokenEndpointFailed,
    TokenPending,
    Unavailable,
)
from vaultauth.models import OAuth2Credential, OAuth2Grant
from vaultauth.oauth.endpoint import Outcome, TokenEndpoint, TokenRequestError
from vaultauth.oauth.state import TokenState, token_path
from vaultauth.ports import SecretStore
from vaultauth.resolve import AccessToken

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
POLL_SECONDS = 0.05
# While another facade refreshes, a token this close to its expiry is not handed out.
EXPIRY_SAFETY = 5.0
_REJECTED = "oauth_refresh_rejected"
_FAILED = "oauth_token_failed"


class RecordChanged(Exception):
    """The token document belongs to another configuration and the caller's record is not the
    current one: read the record again (another facade changed it) and retry."""


def backoff(failures: int, retry_after: float | None) -> float:
    """Seconds before the next request after `failures` failures in a row: 1, 2, 4 ... 60, or
    the endpoint's Retry-After when it asks for longer (capped by the endpoint module)."""
    delay = min(BACKOFF_FIRST * float(2 ** max(failures - 1, 0)), BACKOFF_MAX)
    return max(delay, retry_after or 0.0)


class TokenBroker:
    def __init__(
        self,
        secrets_store: SecretStore,
        endpoint: TokenEndpoint,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
        on_request: Callable[[str, str], None] = lambda _grant, _outcome: None,
        max_entries: int = 10_000,
        wait_seconds: float | None = None,
    ) -> None:
        """`timeout`: the token request's; `on_request(grant, outcome)` counts requests;
        `wait_seconds`: how long a caller waits for another facade's token (default: the
        timeout and 5 s more) before 503 oauth_token_pending."""
        self._secrets = secrets_store
        self._endpoint = endpoint
        self._clock = clock
        self._on_request = on_request
        self._lease_seconds = 3 * timeout
        self._wait_seconds = wait_seconds if wait_seconds is not None else timeout + 5.0
        self._owner = secrets.token_hex(6)  # this process; each attempt adds its number
        self._attempts = itertools.count(1)
        self._max_entries = max_entries
        self._held: OrderedDict[str, tuple[str, TokenState]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._unsaved: dict[str, TokenState] = {}  # results Vault could not take yet

    def __repr__(self) -> str:
        return f"TokenBroker(owner={self._owner!r}, tokens={len(self._held)})"

    async def close(self) -> None:
        await self._endpoint.close()

    async def token(
        self,
        record_path: str,
        credential: OAuth2Credential,
        *,
        is_current: Callable[[], Awaitable[bool]],
    ) -> AccessToken:
        """The record's access token: fresh, or obtained by exactly one facade. Raises
        TokenEndpointFailed (502), TokenPending or VaultUnavailable (503), RecordChanged."""
        path = token_path(record_path)
        config = credential.token_config_hash()
        now = self._clock()
        held = self._held_state(path, config)
        if held is not None and held.fresh(now):
            return _access_token(held)
        lock = self._locks.setdefault(path, asyncio.Lock())
        if lock.locked() and held is not None and held.valid(now + EXPIRY_SAFETY):
            return _access_token(held)  # this process is refreshing it already
        async with lock:
            held = self._held_state(path, config)
            if held is not None and held.fresh(self._clock()):
                return _access_token(held)
            state = await self._obtain(path, credential, config, is_current)
        if len(self._locks) > self._max_entries:
            self._locks = {p: lk for p, lk in self._locks.items() if lk.locked()}
        return _access_token(state)

    def forget(self, record_path: str) -> None:
        """Drop this process's token of a record (its configuration changed or it is gone)."""
        path = token_path(record_path)
        self._held.pop(path, None)
        self._unsaved.pop(path, None)

    def _held_state(self, path: str, config: str) -> TokenState | None:
        entry = self._held.get(path)
        return entry[1] if entry is not None and entry[0] == config else None

    def _remember(self, path: str, state: TokenState) -> None:
        self._held[path] = (state.config, state)
        self._held.move_to_end(path)
        while len(self._held) > self._max_entries:
            self._held.popitem(last=False)

    async def _obtain(
        self,
        path: str,
        credential: OAuth2Credential,
        config: str,
        is_current: Callable[[], Awaitable[bool]],
    ) -> TokenState:
        deadline = time.monotonic() + self._wait_seconds
        owner = f"{self._owner}-{next(self._attempts)}"  # any other attempt waits for this one
        while True:
            await self._save_unsaved(path)
            found = await self._secrets.read_latest(path)
            version = found[1] if found is not None else 0
            state = TokenState.from_vault(found[0]) if found is not None else None
            now = self._clock()
            if state is not None and state.config != config:
                if not await is_current():
                    raise RecordChanged(path)
                state = None  # an earlier configuration's: start afresh
            if state is None:
                state = TokenState(config=config)
            if state.fresh(now):
                self._remember(path, state)
                return state
            if state.backing_off(now):
                if state.valid(now):
                    return state
                raise _failure(state, now)
            if state.leased_by_other(owner, now):
                if state.valid(now + EXPIRY_SAFETY):
                    return state
                if time.monotonic() >= deadline:
                    raise TokenPending(
                        "another facade is obtaining this record's access token; retry shortly",
                        retry_after=max(1.0, (state.lease_until or now) - now),
                    )
                await asyncio.sleep(POLL_SECONDS)
                continue
            leased = state.leased(owner, now + self._lease_seconds)
            try:
                version = await self._secrets.write(path, leased.to_vault(), cas=version)
            except Conflict:
                continue  # another facade moved first: look again
            return await self._request(path, credential, leased, version)

    async def _request(
        self, path: str, credential: OAuth2Credential, leased: TokenState, version: int
    ) -> TokenState:
        """The one token request, under our lease; its outcome is stored before it is used."""
        refresh_token = None
        if credential.grant is OAuth2Grant.REFRESH_TOKEN:
            stored = credential.refresh_token
            refresh_token = leased.refresh_token or (
                stored.get_secret_value() if stored is not None else None
            )
        try:
            grant = await self._endpoint.request(credential, refresh_token)
        except TokenRequestError as exc:
            self._on_request(credential.grant.value, exc.outcome.value)
            now = self._clock()
            code = _REJECTED if exc.outcome is Outcome.REJECTED else _FAILED
            failed = leased.with_failure(
                code, exc.message, now + backoff(leased.failures + 1, exc.retry_after)
            )
            try:
                await self._store(path, failed, version, success=False)
            except Unavailable:
                pass  # the lease expires on its own; the error below is the news
            raise _failure(failed, now) from None
        self._on_request(credential.grant.value, Outcome.SUCCESS.value)
        result = leased.with_token(
            grant.access_token, self._clock(), grant.expires_in, grant.refresh_token
        )
        try:
            await self._store(path, result, version, success=True)
        except Unavailable:
            if grant.refresh_token is not None:
                # The endpoint may have retired the refresh token we sent: keep the new one
                # until Vault takes it (the next call for this record tries first).
                self._unsaved[path] = result
            raise
        self._remember(path, result)
        return result

    async def _store(self, path: str, state: TokenState, version: int, *, success: bool) -> None:
        """Write `state` over our lease (check-and-set on its version). If the document moved
        on meanwhile (our lease was taken over), a success still wins: the refresh token in it
        may be the only valid one. A failure does not overwrite a token that works."""
        for _ in range(3):
            try:
                await self._secrets.write(path, state.to_vault(), cas=version)
                return
            except Conflict:
                found = await self._secrets.read_latest(path)
                if found is None:
                    version = 0
                    continue
                current = TokenState.from_vault(found[0])
                if current is not None and current.config != state.config:
                    return  # the record's configuration changed: ours is obsolete
                if not success and current is not None and current.valid(self._clock()):
                    return
                version = found[1]
        raise Conflict("the token document kept changing while this facade stored a token")

    async def _save_unsaved(self, path: str) -> None:
        state = self._unsaved.get(path)
        if state is None:
            return
        found = await self._secrets.read_latest(path)
        await self._store(path, state, found[1] if found is not None else 0, success=True)
        del self._unsaved[path]
        self._remember(path, state)


def _access_token(state: TokenState) -> AccessToken:
    assert state.access_token is not None
    assert state.expires_at is not None
    return AccessToken(
        value=state.access_token, expires_at=datetime.fromtimestamp(state.expires_at, UTC)
    )


def _failure(state: TokenState, now: float) -> TokenEndpointFailed:
    retry_after = max(1.0, (state.retry_at or now) - now)
    message = state.last_message or "the token endpoint gave no token"
    if state.last_error == _REJECTED:
        return RefreshRejected(message, retry_after=retry_after)
    return TokenEndpointFailed(message, retry_after=retry_after)
