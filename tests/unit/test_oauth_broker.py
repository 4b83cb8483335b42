"""The token broker's coordination, on an in-memory KV with Vault's check-and-set semantics
and a scripted endpoint: single flight within and across brokers (two brokers are two
processes), waiting for and taking over a lease, back-off, rotated refresh tokens stored before
use, configuration changes. The same broker runs against real facade processes, OpenBao and a
real token endpoint in tests/integration/test_oauth_processes.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.memory import MemorySecretStore
from vaultauth.errors import (
    RefreshRejected,
    TokenEndpointFailed,
    TokenPending,
    VaultUnavailable,
)
from vaultauth.models import AuthType, OAuth2Credential, parse_credential
from vaultauth.oauth.broker import RecordChanged, TokenBroker
from vaultauth.oauth.endpoint import Outcome, TokenGrant, TokenRequestError
from vaultauth.oauth.state import TokenState, token_path

pytestmark = pytest.mark.anyio

RECORD = "p/acme/integrations/intg/auth/auth_x"
TOKEN_DOC = token_path(RECORD)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class ScriptedEndpoint:
    """Answers with `grants` in turn (an exception is raised); holds each answer until
    `release` is set when `hold` is on; counts requests and the refresh tokens sent."""

    def __init__(self, *answers: TokenGrant | TokenRequestError) -> None:
        self.answers = list(answers)
        self.sent: list[str | None] = []
        self.hold = False
        self.release = asyncio.Event()

    async def request(self, credential: OAuth2Credential, refresh_token: str | None) -> Any:
        self.sent.append(refresh_token)
        if self.hold:
            await self.release.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, TokenRequestError):
            raise answer
        return answer

    async def close(self) -> None:
        return None


def _grant(n: int, expires_in: float = 600, refresh_token: str | None = None) -> TokenGrant:
    return TokenGrant(access_token=f"at-{n}", expires_in=expires_in, refresh_token=refresh_token)


def _credential(auth_type: AuthType = AuthType.OAUTH2_CLIENT_CREDENTIALS, **more: Any) -> Any:
    fields = {
        "tokenUrl": "https://auth.example.com/token",
        "clientId": "svc",
        "clientSecret": "cs",
        "refreshToken": "rt-0",
        **more,
    }
    credential = parse_credential(auth_type, {"oauth2": fields})
    assert isinstance(credential, OAuth2Credential)
    return credential


def _broker(store: MemorySecretStore, endpoint: ScriptedEndpoint, clock: Clock) -> TokenBroker:
    return TokenBroker(store, endpoint, timeout=2.0, clock=clock)  # type: ignore[arg-type]


async def _current() -> bool:
    return True


def _stored(store: MemorySecretStore) -> TokenState:
    versions = store.paths[TOKEN_DOC]
    state = TokenState.from_vault(versions[-1].data)
    assert state is not None
    return state


async def test_fifty_callers_on_each_of_two_brokers_make_one_request() -> None:
    store, clock = MemorySecretStore(), Clock()
    endpoint = ScriptedEndpoint(_grant(1))
    endpoint.hold = True
    first, second = _broker(store, endpoint, clock), _broker(store, endpoint, clock)
    credential = _credential()
    calls = [
        asyncio.create_task(broker.token(RECORD, credential, is_current=_current))
        for _ in range(50)
        for broker in (first, second)
    ]
    await asyncio.sleep(0.2)  # every caller is now waiting (on its lock or for the lease)
    assert len(endpoint.sent) == 1
    endpoint.release.set()
    tokens = await asyncio.gather(*calls)
    assert {t.value for t in tokens} == {"at-1"}
    assert len(endpoint.sent) == 1
    assert _stored(store).access_token == "at-1"
    assert _stored(store).lease_owner is None


async def test_a_fresh_token_is_served_from_memory_then_refreshed_before_expiry() -> None:
    store, clock = MemorySecretStore(), Clock()
    endpoint = ScriptedEndpoint(_grant(1, expires_in=100), _grant(2, expires_in=100))
    broker = _broker(store, endpoint, clock)
    credential = _credential()
    assert (await broker.token(RECORD, credential, is_current=_current)).value == "at-1"
    clock.now += 69  # used until 100 - 30
    assert (await broker.token(RECORD, credential, is_current=_current)).value == "at-1"
    assert len(endpoint.sent) == 1
    clock.now += 2
    assert (await broker.token(RECORD, credential, is_current=_current)).value == "at-2"
    assert len(endpoint.sent) == 2


async def test_a_rotated_refresh_token_is_stored_before_use_and_used_next() -> None:
    store, clock = MemorySecretStore(), Clock()
    endpoint = ScriptedEndpoint(
        _grant(1, expires_in=60, refresh_token="rt-1"),
        _grant(2, expires_in=60, refresh_token="rt-2"),
    )
    broker = _broker(store, endpoint, clock)
    credential = _credential(AuthType.OAUTH2_REFRESH_TOKEN)
    await broker.token(RECORD, credential, is_current=_current)
    assert _stored(store).refresh_token == "rt-1"
    # Another process (a fresh broker, nothing in memory) refreshes with the rotated one.
    clock.now += 60
    other = _broker(store, endpoint, clock)
    assert (await other.token(RECORD, credential, is_current=_current)).value == "at-2"
    assert endpoint.sent == ["rt-0", "rt-1"]
    assert _stored(store).refresh_token == "rt-2"


async def test_a_failure_backs_off_for_every_broker_and_keeps_the_refresh_token() -> None:
    store, clock = MemorySecretStore(), Clock()
    refused = TokenRequestError(Outcome.REJECTED, "rejected (invalid_grant)")
    endpoint = ScriptedEndpoint(_grant(1, expires_in=60, refresh_token="rt-1"), refused)
    broker = _broker(store, endpoint, clock)
    credential = _credential(AuthType.OAUTH2_REFRESH_TOKEN)
    await broker.token(RECORD, credential, is_current=_current)
    clock.now += 61  # expired
    with pytest.raises(RefreshRejected) as caught:
        await broker.token(RECORD, credential, is_current=_current)
    assert caught.value.retry_after == pytest.approx(1.0)
    assert _stored(store).refresh_token == "rt-1"  # untouched
    # Within the back-off nobody asks the endpoint, in this process or another.
    for asking in (broker, _broker(store, endpoint, clock)):
        with pytest.raises(RefreshRejected):
            await asking.token(RECORD, credential, is_current=_current)
    assert len(endpoint.sent) == 2
    clock.now += 1.5
    with pytest.raises(RefreshRejected) as again:
        await broker.token(RECORD, credential, is_current=_current)
    assert again.value.retry_after == pytest.approx(2.0)  # doubled
    assert endpoint.sent == ["rt-0", "rt-1", "rt-1"]


async def test_during_a_back_off_a_token_that_still_works_is_served() -> None:
    store, clock = MemorySecretStore(), Clock()
    failed = TokenRequestError(Outcome.FAILED, "failed (HTTP 503)", retry_after=40)
    endpoint = ScriptedEndpoint(_grant(1, expires_in=100), failed)
    broker = _broker(store, endpoint, clock)
    credential = _credential()
    await broker.token(RECORD, credential, is_current=_current)
    clock.now += 75  # past use_until (70), before expiry (100)
    with pytest.raises(TokenEndpointFailed) as caught:
        await broker.token(RECORD, credential, is_current=_current)
    assert caught.value.retry_after == pytest.approx(40)  # the endpoint's Retry-After
    assert (await broker.token(RECORD, credential, is_current=_current)).value == "at-1"
    clock.now += 26  # expired, still backing off
    with pytest.raises(TokenEndpointFailed):
        await broker.token(RECORD, credential, is_current=_current)
    assert len(endpoint.sent) == 2


async def test_a_lease_held_elsewhere_is_waited_for_then_taken_over_once_expired() -> None:
    store, clock = MemorySecretStore(), Clock()
    # Another process took the lease and died: it never writes again.
    dead = TokenState(config=_credential().token_config_hash()).leased("dead", clock.now + 6)
    await store.write(TOKEN_DOC, dead.to_vault(), cas=0)
    endpoint = ScriptedEndpoint(_grant(1))
    broker = TokenBroker(store, endpoint, timeout=2.0, clock=clock, wait_seconds=0.2)  # type: ignore[arg-type]
    with pytest.raises(TokenPending) as caught:
        await broker.token(RECORD, _credential(), is_current=_current)
    assert caught.value.retry_after == pytest.approx(6)
    assert endpoint.sent == []
    clock.now += 6
    assert (await broker.token(RECORD, _credential(), is_current=_current)).value == "at-1"
    assert len(endpoint.sent) == 1


async def test_while_another_refreshes_a_token_that_still_works_is_served() -> None:
    store, clock = MemorySecretStore(), Clock()
    credential = _credential()
    valid = TokenState(config=credential.token_config_hash()).with_token(
        "at-old", clock.now, 100, None
    )
    await store.write(TOKEN_DOC, valid.leased("other", clock.now + 80).to_vault(), cas=0)
    clock.now += 75  # not fresh, not expired, leased by another process
    endpoint = ScriptedEndpoint(_grant(1))
    token = await _broker(store, endpoint, clock).token(RECORD, credential, is_current=_current)
    assert token.value == "at-old"
    assert endpoint.sent == []


async def test_a_token_of_another_configuration_is_discarded_or_the_record_reread() -> None:
    store, clock = MemorySecretStore(), Clock()
    old = TokenState(config="another").with_token("at-old", clock.now, 600, "rt-old")
    await store.write(TOKEN_DOC, old.to_vault(), cas=0)
    endpoint = ScriptedEndpoint(_grant(1))
    broker = _broker(store, endpoint, clock)
    credential = _credential(AuthType.OAUTH2_REFRESH_TOKEN)

    async def stale() -> bool:
        return False

    with pytest.raises(RecordChanged):
        await broker.token(RECORD, credential, is_current=stale)
    assert endpoint.sent == []
    assert (await broker.token(RECORD, credential, is_current=_current)).value == "at-1"
    assert endpoint.sent == ["rt-0"]  # the record's own, not the other configuration's


async def test_a_rotated_refresh_token_vault_did_not_take_is_kept_and_stored_first() -> None:
    store, clock = MemorySecretStore(), Clock()
    endpoint = ScriptedEndpoint(_grant(1, expires_in=60, refresh_token="rt-1"))
    broker = _broker(store, endpoint, clock)
    credential = _credential(AuthType.OAUTH2_REFRESH_TOKEN)
    real_write = store.write
    calls = 0

    async def failing_second_write(path: str, data: dict[str, Any], *, cas: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:  # the lease goes through; storing the result does not
            raise VaultUnavailable("Vault is unreachable")
        return await real_write(path, data, cas=cas)

    store.write = failing_second_write  # type: ignore[method-assign]
    with pytest.raises(VaultUnavailable):
        await broker.token(RECORD, credential, is_current=_current)
    store.write = real_write  # type: ignore[method-assign]
    assert (await broker.token(RECORD, credential, is_current=_current)).value == "at-1"
    assert _stored(store).refresh_token == "rt-1"
    assert len(endpoint.sent) == 1  # stored, not asked again
