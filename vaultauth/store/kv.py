"""The Vault KV v2 adapter: asyncio on pooled keep-alive connections (http11.py), with failover.

This is the hot path's Vault client: every resolve that misses the cache, every create and
every update goes through it, so it does one thing per call (one HTTP request, one JSON parse)
and never leaves the event loop. It costs a small fraction of the CPU of hvac + requests per KV
call (see docs/benchmarks.md); hvac stays where it serves, for logins (`vault_login.py`).

Failures are translated here, once, into the domain tree; Vault's answer bodies and URLs never
reach a message.

With several node addresses (an HA/raft cluster), calls go to the node a majority of nodes name
as leader, and move on to the next node on a connection failure, a timeout, a sealed node, a
redirect loop or a 5xx/429, within a bounded time budget. Three traps of a real raft cluster are
handled here:
- standbys answer reads themselves and lag the leader: reads carry the newest `X-Vault-Index`
  this process has seen with `X-Vault-Inconsistent: forward-active-node`, and a versioned read
  that misses is re-read from the elected leader, within the budget, before it counts as missing;
- a write whose response was lost may have been applied: every write is a check-and-set, and a
  retried write that meets a CAS mismatch compares the current data with its own before it
  reports a conflict, so a retry is never applied twice nor reported as a false 409;
- an old leader can keep claiming to be active after a freeze: the leader is the address a
  majority of nodes report from `sys/leader`, never one node's own claim.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic_core import from_json

from vaultauth.errors import Conflict, VaultauthError, VaultUnavailable
from vaultauth.ids import validate_mount
from vaultauth.ports import SecretMetadata, SecretVersionInfo, VersionState
from vaultauth.store.http11 import CallTimedOut, ConnectionFailed, HttpClient

T = TypeVar("T")

REQUEST_ID_HEADER = "X-Vaultauth-Request-Id"
_CAS_MISMATCH = b"check-and-set parameter did not match"
_CONNECT_TIMEOUT = 1.5
_DISCOVERY_TIMEOUT = 1.0
_REDISCOVER_EVERY = 10.0
_ROUND_BACKOFF = 0.25

# Statuses after which another node may succeed where this one did not.
_NODE_STATUSES = frozenset({429, 500, 502, 503})


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    vault_index: str | None


class _NodeFailure(Exception):
    """This node could not serve the call; another node might. Carries the domain error."""

    def __init__(self, error: VaultUnavailable) -> None:
        super().__init__(error.code)
        self.error = error


def _status_error(status: int, body: bytes) -> VaultauthError:
    """The domain error for a Vault answer that is not a success (never its text)."""
    if status == 400 and _CAS_MISMATCH in body:
        return Conflict("a concurrent change to this record won; read it again and retry")
    if status == 503:
        return VaultUnavailable("Vault is sealed or not ready", code="vault_sealed")
    if status == 404:
        return VaultUnavailable(
            "the KV mount is missing or not version 2", code="vault_misconfigured"
        )
    if status == 403:
        return VaultUnavailable("Vault refused the facade's token", code="vault_forbidden")
    return VaultUnavailable("Vault could not serve the request")


def _payload(answer: _Answer, extract: Callable[[Any], T]) -> T:
    """`extract` applied to the JSON body; an answer of another shape is VaultUnavailable."""
    try:
        # pydantic-core's parser: a KV answer in ~1.5 µs where json.loads takes ~4 (every
        # resolve that misses the cache parses one).
        return extract(from_json(answer.body))
    except (ValueError, KeyError, TypeError):
        raise VaultUnavailable(
            "Vault answered in an unexpected shape", code="vault_bad_answer"
        ) from None


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _metadata_of(doc: Any) -> SecretMetadata:
    data = doc["data"]
    versions = tuple(
        VersionState(
            number=int(number),
            created_at=_moment(state["created_time"]),
            available=not state.get("destroyed") and not state.get("deletion_time"),
        )
        for number, state in data["versions"].items()
    )
    return SecretMetadata(
        current_version=int(data["current_version"]),
        oldest_version=int(data.get("oldest_version") or 0),
        versions=versions,
    )


def _index_position(index: str) -> int:
    """The raft position inside an `X-Vault-Index` (base64 JSON with a "value"); -1 if opaque."""
    try:
        decoded = json.loads(base64.b64decode(index + "=" * (-len(index) % 4)))
        return int(decoded["value"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return -1


def _normalise(addr: str) -> str:
    return addr.strip().rstrip("/").lower()


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    context = ssl.create_default_context()
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class VaultKV:
    """SecretStore on a KV v2 mount. Create and use it inside one event loop; `close()` it."""

    def __init__(
        self,
        addrs: str | Sequence[str],
        token: Callable[[], str],
        *,
        mount: str,
        timeout: float = 5.0,
        pool_size: int = 64,
        namespace: str | None = None,
        failover_budget: float = 8.0,
        verify: bool | str = True,
        token_rejected: Callable[[str], bool] | None = None,
        request_id: Callable[[], str | None] = lambda: None,
    ) -> None:
        """`token()` gives the first token (`set_token` the next ones). After a 403,
        `token_rejected(token)` (blocking: it may log in, so it runs in a thread) says whether
        a new token is now set; the call is then retried once with it. `request_id()` names
        the facade request a call is made for; it is sent as X-Vaultauth-Request-Id so Vault's
        audit log can be joined with the facade's."""
        self._addrs = [addrs] if isinstance(addrs, str) else [a.rstrip("/") for a in addrs]
        if not self._addrs:
            raise VaultUnavailable("no Vault address configured", code="vault_not_configured")
        self._mount = validate_mount(mount, "VAULTAUTH_VAULT_MOUNT")
        self._token = token()
        self._token_rejected = token_rejected
        self._request_id = request_id
        self._budget = failover_budget
        self._http = HttpClient(
            timeout=timeout,
            connect_timeout=min(_CONNECT_TIMEOUT, timeout),
            pool_size=pool_size,
            ssl_context=_ssl_context(verify),
        )
        self._base_headers = {"X-Vault-Namespace": namespace} if namespace else {}
        self._preferred = 0
        self._discovering = False
        self._last_discovery = 0.0
        self._vault_index: str | None = None

    @property
    def addresses(self) -> list[str]:
        return list(self._addrs)

    def set_token(self, token: str) -> None:
        """Use `token` for every call from now on (after a login or renewal); thread-safe."""
        self._token = token

    async def close(self) -> None:
        await self._http.close()

    # --- the KV v2 operations -------------------------------------------------------------

    async def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        """POST <mount>/data/<path> with options.cas; returns the new version."""
        body = json.dumps({"options": {"cas": cas}, "data": data}).encode()
        attempts = 0

        async def attempt(node: int) -> _Answer:
            nonlocal attempts
            attempts += 1
            return await self._call(node, "POST", f"data/{path}", body=body)

        deadline = time.monotonic() + self._budget
        while True:
            try:
                answer = await self._with_failover(attempt)
            except Conflict:
                if len(self._addrs) == 1:
                    raise
                if await self._conflict_is_real(path, cas):
                    if attempts > 1 and await self._our_write_landed(path, cas, data):
                        return cas + 1
                    raise
                if time.monotonic() >= deadline:
                    raise VaultUnavailable(
                        "Vault nodes disagree on the record's version; retry shortly",
                        code="vault_lagging",
                    ) from None
                await asyncio.sleep(_ROUND_BACKOFF)
                await self._discover_leader(force=True)
                continue
            return _payload(answer, lambda doc: int(doc["data"]["version"]))

    async def _conflict_is_real(self, path: str, cas: int) -> bool:
        """A CAS mismatch is real only if the key is past `cas`.

        Just after an election the new leader (or a standby) can judge the CAS on state that
        has not caught up yet, and reject a write whose `cas` is in fact current.
        """
        info = await self.version_info(path)
        return (info.current_version if info is not None else 0) > cas

    async def _our_write_landed(self, path: str, cas: int, data: dict[str, Any]) -> bool:
        """After a retry: did an earlier attempt, whose answer was lost, write `data`?"""
        landed = await self._read_settled(path, cas + 1)
        if landed is None:
            raise VaultUnavailable(
                "Vault failed over during the write and its outcome is unknown; "
                "read the record and retry",
                code="vault_outcome_unknown",
            )
        return landed == data

    async def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        """GET <mount>/data/<path>?version=N. A KV v2 404 means missing, deleted or destroyed."""
        data = await self._read_once(path, version)
        if data is None and version is not None and len(self._addrs) > 1:
            # The index names this version, so it exists: a lagging node has not seen it yet.
            return await self._read_settled(path, version)
        return data

    async def read_latest(self, path: str) -> tuple[dict[str, Any], int] | None:
        """GET <mount>/data/<path>: the newest version's data and its number."""
        answer = await self._with_failover(
            lambda node: self._call(node, "GET", f"data/{path}", missing_ok=True)
        )
        if answer.status == 404:
            return None
        return _payload(
            answer,
            lambda doc: (dict(doc["data"]["data"]), int(doc["data"]["metadata"]["version"])),
        )

    async def destroy(self, path: str) -> None:
        """DELETE <mount>/metadata/<path>: every version and the metadata are removed."""
        await self._with_failover(
            lambda node: self._call(node, "DELETE", f"metadata/{path}", missing_ok=True)
        )

    async def version_info(self, path: str) -> SecretVersionInfo | None:
        """GET <mount>/metadata/<path>: the current version and when it was written."""
        answer = await self._metadata_answer(path)
        if answer is None:
            return None
        return _payload(
            answer,
            lambda doc: SecretVersionInfo(
                current_version=int(doc["data"]["current_version"]),
                updated_at=_moment(doc["data"]["updated_time"]),
            ),
        )

    async def metadata(self, path: str) -> SecretMetadata | None:
        """GET <mount>/metadata/<path>: every version's number, date and state."""
        answer = await self._metadata_answer(path)
        return None if answer is None else _payload(answer, _metadata_of)

    async def _metadata_answer(self, path: str) -> _Answer | None:
        """Vault's answer to GET <mount>/metadata/<path>; None when the path has none."""
        answer = await self._with_failover(
            lambda node: self._call(node, "GET", f"metadata/{path}", missing_ok=True)
        )
        return None if answer.status == 404 else answer

    async def set_max_versions(self, path: str, max_versions: int) -> None:
        """POST <mount>/metadata/<path> with max_versions alone (the other settings are kept:
        Vault changes only the fields a request names)."""
        body = json.dumps({"max_versions": max_versions}).encode()
        await self._with_failover(
            lambda node: self._call(node, "POST", f"metadata/{path}", body=body)
        )

    async def list_paths(self, folder: str) -> AsyncIterator[str]:
        """LIST <mount>/metadata/<folder>, recursively; an unknown folder lists as empty."""
        answer = await self._with_failover(
            lambda node: self._call(node, "LIST", f"metadata/{folder}", missing_ok=True)
        )
        if answer.status == 404:
            return
        keys = _payload(answer, lambda doc: [str(name) for name in doc["data"]["keys"]])
        for key in keys:
            if key.endswith("/"):
                async for path in self.list_paths(f"{folder}/{key.rstrip('/')}"):
                    yield path
            else:
                yield f"{folder}/{key}"

    async def check_ready(self) -> None:
        """GET sys/health?standbyok=true on each node: ready when any node answers 200 (unsealed,
        active or standby); sealed or unreachable everywhere is VaultUnavailable."""
        statuses = await asyncio.gather(
            *(self._probe(addr, "/v1/sys/health?standbyok=true") for addr in self._addrs)
        )
        if any(status == 200 for status, _ in statuses):
            return
        if all(status == 0 for status, _ in statuses):
            raise VaultUnavailable("Vault is unreachable")
        raise VaultUnavailable("Vault is sealed or not ready", code="vault_sealed")

    # --- plumbing -------------------------------------------------------------------------

    async def _read_settled(self, path: str, version: int) -> dict[str, Any] | None:
        """Read `version` from the elected leader, waiting out replication lag within budget."""
        deadline = time.monotonic() + self._budget
        while True:
            await self._discover_leader(force=True)
            data = await self._read_once(path, version)
            if data is not None:
                return data
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_ROUND_BACKOFF)

    async def _read_once(self, path: str, version: int | None) -> dict[str, Any] | None:
        query = f"?version={version}" if version is not None else ""
        endpoint = f"data/{path}{query}"
        answer = await self._with_failover(
            lambda node: self._call(node, "GET", endpoint, missing_ok=True)
        )
        if answer.status == 404:
            return None
        return _payload(answer, lambda doc: dict(doc["data"]["data"]))

    async def _call(
        self,
        node: int,
        method: str,
        endpoint: str,
        *,
        body: bytes | None = None,
        missing_ok: bool = False,
        retry_forbidden: bool = True,
    ) -> _Answer:
        """One HTTP call to one node. Raises the domain error, or _NodeFailure when another
        node may do better; a 404 with `missing_ok` is returned as an answer."""
        sent_token = self._token
        headers = {**self._base_headers, "X-Vault-Token": sent_token}
        request_id = self._request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if method in ("GET", "LIST") and self._vault_index is not None:
            headers["X-Vault-Index"] = self._vault_index
            headers["X-Vault-Inconsistent"] = "forward-active-node"
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = f"{self._addrs[node]}/v1/{self._mount}/{endpoint}"
        try:
            reply = await self._http.request(method, url, headers=headers, body=body)
        except CallTimedOut:
            raise _NodeFailure(
                VaultUnavailable("Vault did not answer in time", code="vault_timeout")
            ) from None
        except ConnectionFailed:
            # Connection refused or reset, a redirect loop, a broken answer.
            raise _NodeFailure(VaultUnavailable("Vault is unreachable")) from None
        answer = _Answer(reply.status, reply.body, reply.headers.get("x-vault-index"))
        if answer.vault_index:
            self._remember_index(answer.vault_index)
        if answer.status < 300 or (answer.status == 404 and missing_ok):
            return answer
        if answer.status == 403 and retry_forbidden and await self._new_token(sent_token):
            return await self._call(
                node, method, endpoint, body=body, missing_ok=missing_ok, retry_forbidden=False
            )
        error = _status_error(answer.status, answer.body)
        if answer.status in _NODE_STATUSES:
            assert isinstance(error, VaultUnavailable)
            raise _NodeFailure(error)
        raise error

    async def _new_token(self, rejected: str) -> bool:
        """An expired or revoked token: the login may have a new one (vault_login.py)."""
        if self._token_rejected is None:
            return False
        return await asyncio.to_thread(self._token_rejected, rejected)

    def _remember_index(self, index: str) -> None:
        """Keep the newest `X-Vault-Index` seen; answers may arrive out of order."""
        current = self._vault_index
        if current is None or _index_position(index) >= _index_position(current):
            self._vault_index = index

    async def _with_failover(self, operation: Callable[[int], Awaitable[T]]) -> T:
        """Run `operation` on the preferred node; on a node failure try the next, in budget."""
        if len(self._addrs) == 1:
            try:
                return await operation(0)
            except _NodeFailure as failure:
                raise failure.error from None
        await self._discover_leader()
        deadline = time.monotonic() + self._budget
        last: VaultUnavailable | None = None
        tried = 0
        while True:
            node = self._preferred
            try:
                return await operation(node)
            except _NodeFailure as failure:
                last = failure.error
            tried += 1
            if self._preferred == node:
                self._preferred = (node + 1) % len(self._addrs)
            if time.monotonic() >= deadline:
                break
            if tried % len(self._addrs) == 0:
                await asyncio.sleep(_ROUND_BACKOFF)
                await self._discover_leader(force=True)
        assert last is not None
        raise VaultUnavailable(
            f"no Vault node could serve the request ({last.code})", code=last.code
        ) from None

    async def _probe(self, addr: str, endpoint: str) -> tuple[int, Any]:
        """GET a sys endpoint of one node: (status, JSON body or None); (0, None) if down."""
        try:
            reply = await self._http.request(
                "GET", f"{addr}{endpoint}", headers=self._base_headers, timeout=_DISCOVERY_TIMEOUT
            )
        except (CallTimedOut, ConnectionFailed):
            return 0, None
        try:
            return reply.status, json.loads(reply.body) if reply.body else None
        except ValueError:
            return reply.status, None

    async def _discover_leader(self, *, force: bool = False) -> None:
        """Prefer the node that a majority of all nodes name as leader in `sys/leader`."""
        now = time.monotonic()
        if not force and now - self._last_discovery < _REDISCOVER_EVERY:
            return
        if self._discovering:
            return  # another task is discovering; keep the current preference
        self._discovering = True
        try:
            self._last_discovery = now
            answers = await asyncio.gather(
                *(self._probe(addr, "/v1/sys/leader") for addr in self._addrs)
            )
            votes: Counter[str] = Counter()
            for status, body in answers:
                leader = body.get("leader_address") if status == 200 and body else None
                if isinstance(leader, str) and leader:
                    votes[_normalise(leader)] += 1
            if not votes:
                return
            leader, count = votes.most_common(1)[0]
            if count * 2 <= len(self._addrs):
                return  # no majority: never trust one node's own claim
            for position, addr in enumerate(self._addrs):
                if _normalise(addr) == leader:
                    self._preferred = position
                    return
        finally:
            self._discovering = False
